using System.Text.RegularExpressions;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Trainable;

/// <summary>One adapter: the frozen weight it sits beside and its two factors.</summary>
/// <param name="Node">Label of the MatMul/Gemm adapted.</param>
/// <param name="Weight">The frozen weight's initializer.</param>
/// <param name="A">Initializer of A [in, r].</param>
/// <param name="B">Initializer of B [r, out], zero at the start.</param>
/// <param name="In">The layer's input features.</param>
/// <param name="Out">The layer's output features.</param>
/// <param name="Rank">r.</param>
public sealed record LoraAdapter(string Node, string Weight, string A, string B, long In, long Out, int Rank);

/// <summary>
/// Adds LoRA adapters beside MatMul/Gemm weights. Convention (as PEFT's, with the factors stored
/// so that no transpose is needed): y = x·W + (x·A)·B·(alpha/r), A [in, r], B [r, out].
/// A starts Kaiming-uniform (torch's default for a Linear of fan-in `in`: uniform ±1/√in), B starts
/// at zero, so the adapted model starts equal to the original. The weight W stays a frozen
/// initializer. Targets: a regex matched against the weight's name and the node's name. A layer
/// that writes a graph output (the LM head, a classifier) is never adapted.
/// </summary>
public static class LoraAdapters
{
    /// <summary>
    /// Adds an adapter to every targeted layer of <paramref name="graph"/>, in place, and re-sorts its
    /// nodes.
    /// </summary>
    /// <param name="graph">
    /// The forward graph; every reader of an adapted layer's output reads the adapted sum instead.
    /// </param>
    /// <param name="targets">
    /// Matched against each layer's names (<see cref="TrainingGraphOptions.LoraTargets"/>).
    /// </param>
    /// <param name="rank">r, the adapters' inner dimension; at least 1.</param>
    /// <param name="alpha">LoRA's alpha: the update is scaled by alpha/r.</param>
    /// <param name="seed">Seed of A's initial values.</param>
    /// <returns>
    /// The adapters added, in the graph's topological order; factors are named
    /// "&lt;weight&gt;.lora_A" and "&lt;weight&gt;.lora_B".
    /// </returns>
    public static IReadOnlyList<LoraAdapter> Add(OnnxGraph graph, Regex targets, int rank, double alpha, int seed)
    {
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), "the LoRA rank must be at least 1");
        var random = new SeededUniform(seed);
        var emit = new GraphEmitter(graph, "LoRA/");
        var adapters = new List<LoraAdapter>();
        foreach (OnnxNode node in graph.TopologicalOrder())
        {
            if (Target(graph, node) is not var (weight, tensor, inDim, outDim)) continue;
            if (!LayerNames(graph, node, weight).Any(targets.IsMatch)) continue;
            string y = node.Outputs[0];
            if (graph.IsGraphOutput(y))
            {
                // The output projection (an LM head or classifier) writes the graph's output, whose
                // name the loss refers to; like PEFT's defaults, it is left without an adapter.
                continue;
            }
            int type = tensor.DataType;
            long aElements = GraphEmitter.ParameterElements(graph, weight + ".lora_A", inDim, rank);
            long bElements = GraphEmitter.ParameterElements(graph, weight + ".lora_B", rank, outDim);
            string a = GraphEmitter.Tensor(graph, weight + ".lora_A", type, [inDim, rank], random.Next(aElements, 1.0 / Math.Sqrt(inDim)));
            string b = GraphEmitter.Tensor(graph, weight + ".lora_B", type, [rank, outDim], new double[bElements]);

            var readers = graph.Consumers(y).Distinct().ToList();
            string xa = emit.Op("MatMul", [node.Input(0)!, a], y + "_lora_xa");
            string xab = emit.Op("MatMul", [xa, b], y + "_lora_xab");
            string scaled = emit.Op("Mul", [xab, emit.Scalar(alpha / rank, type, "lora_scale")], y + "_lora_delta");
            string adapted = emit.Op("Add", [y, scaled], y + "_lora");
            foreach (OnnxNode reader in readers)
            {
                for (int i = 0; i < reader.Inputs.Count; i++)
                {
                    if (reader.Inputs[i] == y) reader.SetInput(i, adapted);
                }
            }
            adapters.Add(new LoraAdapter(node.Label, weight, a, b, inDim, outDim, rank));
        }
        graph.SortNodes();
        return adapters;
    }

    /// <summary>A constant, or an initializer that old exporters also list as a graph input.</summary>
    private static Onnx.Proto.TensorProto? WeightTensor(OnnxGraph graph, string value) =>
        graph.ConstantTensor(value) ?? graph.Initializer(value);

    /// <summary>
    /// Names that identify the layer: the weight's, the node's, and the bias initializer of an Add
    /// right after it. Exporters often name weights anonymously (onnx::MatMul_123) and nodes by
    /// number, but keep the module path on the bias (encoder.layer.0.attention.self.query.bias).
    /// </summary>
    private static IEnumerable<string> LayerNames(OnnxGraph graph, OnnxNode node, string weight)
    {
        yield return weight;
        if (node.Name.Length > 0) yield return node.Name;
        foreach (OnnxNode consumer in graph.Consumers(node.Outputs[0]))
        {
            if (!consumer.Is("Add")) continue;
            foreach (string input in consumer.Inputs)
            {
                if (input != node.Outputs[0] && graph.ConstantTensor(input) is not null) yield return input;
            }
        }
    }

    /// <summary>
    /// The weight a node multiplies by, with its in/out sizes, when the node can carry an adapter:
    /// a constant [in, out] (or [out, in] under Gemm's transB), or torch's export of a Linear,
    /// MatMul(x, Transpose(W)) with W [out, in].
    /// </summary>
    private static (string Weight, Onnx.Proto.TensorProto Tensor, long In, long Out)? Target(OnnxGraph graph, OnnxNode node)
    {
        bool matMul = node.Is("MatMul");
        bool gemm = node.Is("Gemm") && node.GetInt("transA", 0) == 0;
        if ((!matMul && !gemm) || node.Input(1) is not { } weight) return null;
        bool transposed = gemm && node.GetInt("transB", 0) != 0;
        if (graph.Producer(weight) is { } producer && producer.Is("Transpose") && producer.Input(0) is { } source
            && WeightTensor(graph, source) is { Dims.Count: 2 }
            && (producer.GetInts("perm") is null || producer.GetInts("perm")!.SequenceEqual([1L, 0L])))
        {
            weight = source;
            transposed = !transposed;
        }
        if (WeightTensor(graph, weight) is not { } tensor || tensor.Dims.Count != 2 || !ElementTypes.IsFloatingPoint(tensor.DataType)) return null;
        return transposed ? (weight, tensor, tensor.Dims[1], tensor.Dims[0]) : (weight, tensor, tensor.Dims[0], tensor.Dims[1]);
    }
}
