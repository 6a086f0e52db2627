using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Heads;

/// <summary>
/// Appends the loss to a forward graph and makes it the graph's only output ("loss", a scalar).
/// Cross-entropy: logits [.., C] are flattened to [N, C] and scored against an int64 "labels"
/// input shaped like the logits without their class axis, with ONNX Runtime's
/// SoftmaxCrossEntropyLossInternal (reduction mean). MSE: mean((y − target)²) over every element.
/// </summary>
public static class LossHead
{
    /// <summary>Name the loss output gets (a fresh variant when the model already uses it).</summary>
    public const string LossName = "loss";
    /// <summary>Name of the int64 input cross-entropy adds for the class indices.</summary>
    public const string LabelsName = "labels";
    /// <summary>Name of the input MSE adds for the values the output is compared with.</summary>
    public const string TargetName = "target";

    /// <summary>
    /// Puts a <paramref name="kind"/> loss on <paramref name="output"/>, removes the nodes only other
    /// outputs needed, and returns the loss value's name; throws
    /// <see cref="UnsupportedModelException"/> when the output's type does not allow that loss.
    /// </summary>
    public static string Add(OnnxModel model, string output, LossKind kind, DimBindings? dims)
    {
        OnnxGraph graph = model.Graph;
        TensorType type = ShapeInference.Infer(graph, dims).GetValueOrDefault(output)
            ?? throw new UnsupportedModelException(model.FileName, $"the type of output '{output}' is unknown");
        if (!ElementTypes.IsFloatingPoint(type.ElementType))
        {
            throw new UnsupportedModelException(model.FileName, $"output '{output}' is {ElementTypes.Name(type.ElementType)}, not a floating-point value a loss can be put on");
        }
        var emit = new GraphEmitter(graph, "Loss/");
        string loss = kind == LossKind.CrossEntropy ? CrossEntropy(model, emit, output, type) : MeanSquaredError(model, emit, output, type);
        graph.Proto.Output.Clear();
        graph.Proto.Output.Add(GraphValues.ValueInfo(loss, type.ElementType, []));
        graph.RemoveDeadNodes();
        return loss;
    }

    private static string CrossEntropy(OnnxModel model, GraphEmitter emit, string logits, TensorType type)
    {
        TensorShape shape = type.Shape is { Rank: >= 2 } s
            ? s
            : throw new UnsupportedModelException(model.FileName, $"cross-entropy needs logits of rank 2 or more; '{logits}' has shape {type.Shape?.ToString() ?? "unknown"}");
        long classes = shape.Dims[^1].Value
            ?? throw new UnsupportedModelException(model.FileName, $"the class axis (last) of '{logits}' must have a known size; it is '{shape.Dims[^1]}'");
        string labels = model.Graph.UniqueName(LabelsName);
        model.Graph.Proto.Input.Add(GraphValues.ValueInfo(labels, ElementTypes.Int64, shape.Dims.Take(shape.Rank - 1)));
        string scores = logits;
        string flatLabels = labels;
        if (shape.Rank > 2)
        {
            scores = emit.Op("Reshape", [logits, emit.Int64s([-1, classes])], logits + "_2d");
            flatLabels = emit.Op("Reshape", [labels, emit.Int64s([-1])], labels + "_1d");
        }
        string[] outputs = emit.OpMulti("SoftmaxCrossEntropyLossInternal", [scores, flatLabels], [LossName, LossName + "_log_prob"],
            GraphEmitter.MicrosoftDomain, GraphEmitter.String("reduction", "mean"));
        return outputs[0];
    }

    private static string MeanSquaredError(OnnxModel model, GraphEmitter emit, string output, TensorType type)
    {
        string target = model.Graph.UniqueName(TargetName);
        model.Graph.Proto.Input.Add(GraphValues.ValueInfo(target, type.ElementType, type.Shape?.Dims));
        string diff = emit.Op("Sub", [output, target], output + "_error");
        string squared = emit.Op("Mul", [diff, diff], output + "_squared_error");
        return emit.Op("ReduceMean", [squared], LossName, "", GraphEmitter.Int("keepdims", 0));
    }
}
