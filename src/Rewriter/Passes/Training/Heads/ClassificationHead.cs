using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;
using OnnxMemOpt.Passes.Training.Trainable;

namespace OnnxMemOpt.Passes.Training.Heads;

/// <summary>
/// Puts a linear classifier on an encoder output: a sequence output [B, S, D] is pooled to [B, D]
/// (first token, or the mean over S), a pooled output [B, D] is used as it is, then
/// logits = pooled·head.weight + head.bias with head.weight [D, classes] and head.bias [classes],
/// both drawn like torch's nn.Linear default (uniform in ±1/√D) from the options' seed.
/// </summary>
public static class ClassificationHead
{
    /// <summary>Name of the head's weight [D, classes] (a fresh variant when the model already uses it).</summary>
    public const string WeightName = "head.weight";
    /// <summary>Name of the head's bias [classes] (a fresh variant when the model already uses it).</summary>
    public const string BiasName = "head.bias";

    /// <summary>Adds the head; returns the logits value and the names of the head's parameters.</summary>
    public static (string Logits, IReadOnlyList<string> Parameters) Add(OnnxModel model, string output, ClassificationHeadOptions head, int seed, DimBindings? dims)
    {
        OnnxGraph graph = model.Graph;
        TensorType type = ShapeInference.Infer(graph, dims).GetValueOrDefault(output)
            ?? throw new UnsupportedModelException(model.FileName, $"the type of output '{output}' is unknown");
        if (type.Shape is not { Rank: 2 or 3 } shape || shape.Dims[^1].Value is not { } hidden)
        {
            throw new UnsupportedModelException(model.FileName, $"a classification head needs an output [B, D] or [B, S, D] with a known D; '{output}' is {type}");
        }
        if (head.Classes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(head), "a classification head needs at least one class");
        }
        var emit = new GraphEmitter(graph, "Head/");
        string pooled = output;
        if (shape.Rank == 3)
        {
            pooled = head.Pooling == HeadPooling.FirstToken
                ? emit.Op("Gather", [output, emit.Int64s([0], scalar: true)], output + "_first_token", "", GraphEmitter.Int("axis", 1))
                : MeanOverSequence(emit, output);
        }
        var random = new SeededUniform(seed);
        double bound = 1.0 / Math.Sqrt(hidden);
        long weightElements = GraphEmitter.ParameterElements(graph, WeightName, hidden, head.Classes);
        string weight = GraphEmitter.Tensor(graph, WeightName, type.ElementType, [hidden, head.Classes], random.Next(weightElements, bound));
        string bias = GraphEmitter.Tensor(graph, BiasName, type.ElementType, [head.Classes], random.Next(head.Classes, bound));
        string product = emit.Op("MatMul", [pooled, weight], "head_matmul");
        string logits = emit.Op("Add", [product, bias], "logits");
        return (logits, [weight, bias]);
    }

    private static string MeanOverSequence(GraphEmitter emit, string output) =>
        emit.Opset >= 18
            ? emit.Op("ReduceMean", [output, emit.Int64s([1])], output + "_mean", "", GraphEmitter.Int("keepdims", 0))
            : emit.Op("ReduceMean", [output], output + "_mean", "", GraphEmitter.Ints("axes", [1]), GraphEmitter.Int("keepdims", 0));
}
