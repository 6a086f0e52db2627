using System.Text.RegularExpressions;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Training.Trainable;

/// <summary>
/// Which initializers are the model's weights for full fine-tuning: floating-point initializers of
/// more than one element that a linear, embedding, norm or bias op reads (or a Transpose, the
/// way torch exports a Linear's weight, or an Identity, the way it shares equal weights). Scalars (epsilons,
/// scaling constants) and names matching the exclusion pattern (position caches, masks) stay frozen.
/// </summary>
public static class WeightSelection
{
    private static readonly HashSet<string> WeightReaders = new(StringComparer.Ordinal)
    {
        "MatMul", "Gemm", "FusedMatMul", "Gather", "Conv", "Transpose", "LayerNormalization", "SimplifiedLayerNormalization",
        "RMSNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "Add", "Mul", "BiasGelu", "FastGelu", "Identity",
    };

    /// <summary>
    /// The weights of <paramref name="graph"/> by the rule above, without names
    /// <paramref name="exclude"/> matches, in the file's initializer order.
    /// </summary>
    public static IReadOnlyList<string> FullSet(OnnxGraph graph, Regex exclude)
    {
        var selected = new List<string>();
        foreach (var (name, tensor) in graph.Initializers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // (Old exporters also list weights as graph inputs; those are weights all the same.)
            if (!ElementTypes.IsFloatingPoint(tensor.DataType) || TensorData.ElementCount(tensor) <= 1 || exclude.IsMatch(name))
            {
                continue;
            }
            if (graph.Consumers(name).Any(n => WeightReaders.Contains(n.OpType) && (n.OpType != "Gather" || n.Input(0) == name)))
            {
                selected.Add(name);
            }
        }
        // Keep the file's order of initializers: the order parameters appear in the graph's inputs.
        var order = graph.Proto.Initializer.Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        return selected.OrderBy(n => order[n]).ToList();
    }
}
