namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// What this project's custom-op library declares to ONNX Runtime about the buffers of its
/// com.microsoft training ops (src/CustomOps/native: OpSpec::same_shape, infer_shapes and
/// may_inplace), which the runtime's planner acts on:
/// - output shapes: an output takes one input's shape, known while that input's is, except for a
///   rank-0 input (the custom-op interface shows an unknown shape as rank 0, so the library sets
///   nothing then); the loss of SoftmaxCrossEntropyLossInternal is known once the labels are;
/// - may-in-place outputs of the CPU kernels: the loss's log_prob over the scores, the loss
///   gradients' d_logits over log_prob, and the softmax gradients' dX over dY (the library declares
///   them to runtimes with API 18 or newer, ONNX Runtime 1.18+; the project runs 1.31).
/// Training ops not listed here (the pointwise gradients such as GeluGrad among them) declare
/// neither: their outputs have no static shape.
/// </summary>
public static class LibraryTrainingOps
{
    /// <summary>
    /// The domain the library registers its training ops in: ONNX Runtime's gradient vocabulary, so
    /// training graphs need no renaming.
    /// </summary>
    public const string Domain = "com.microsoft";

    /// <summary>Output <see cref="Output"/> has input <see cref="Input"/>'s shape, and may take its buffer when <see cref="InPlace"/>.</summary>
    private sealed record OutputRule(int Output, int Input, bool InPlace);

    /// <summary>(dY, Y) -> dX: dX has Y's shape and may be written over dY.</summary>
    private static readonly OutputRule[] SoftmaxGradient = [new(0, 1, false), new(0, 0, true)];

    /// <summary>(dY, log_prob, labels, ...) -> d_logits: log_prob's shape, written over log_prob.</summary>
    private static readonly OutputRule[] LossGradient = [new(0, 1, false), new(0, 1, true)];

    private static readonly Dictionary<string, OutputRule[]> Rules = new(StringComparer.Ordinal)
    {
        ["SoftmaxGrad"] = SoftmaxGradient,
        ["SoftmaxGrad_13"] = SoftmaxGradient,
        ["LogSoftmaxGrad"] = SoftmaxGradient,
        ["LogSoftmaxGrad_13"] = SoftmaxGradient,
        // (scores, labels, ...) -> (loss, log_prob): log_prob has the scores' shape and may be written over them.
        ["SoftmaxCrossEntropyLossInternal"] = [new(1, 0, false), new(1, 0, true)],
        ["SoftmaxCrossEntropyLossGrad"] = LossGradient,
        ["SoftmaxCrossEntropyLossInternalGrad"] = LossGradient,
    };

    /// <summary>
    /// True when <paramref name="node"/> is one of the library's ops whose shapes and in-place outputs
    /// are described here.
    /// </summary>
    public static bool IsLibraryOp(RuntimeNode node) => node.Domain == Domain && Rules.ContainsKey(node.OpType);

    /// <summary>The outputs of <paramref name="node"/> whose shape the runtime infers, given the values whose shape it knows.</summary>
    public static IEnumerable<string> InferredOutputs(RuntimeGraph graph, RuntimeNode node, IReadOnlySet<string> known)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(known);
        if (node.Domain != Domain || !Rules.TryGetValue(node.OpType, out OutputRule[]? rules)) yield break;
        foreach (OutputRule rule in rules.Where(r => !r.InPlace))
        {
            if (KnownWithRank(graph, known, Value(node.Inputs, rule.Input)) && Value(node.Outputs, rule.Output) is { } output) yield return output;
        }
        if (node.OpType == "SoftmaxCrossEntropyLossInternal" && KnownWithRank(graph, known, Value(node.Inputs, 1))
            && Value(node.Outputs, 0) is { } loss)
        {
            yield return loss;
        }
    }

    /// <summary>The input whose buffer output <paramref name="output"/> of a CPU kernel may take over, or null.</summary>
    public static int? InPlaceInput(RuntimeNode node, int output)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.Domain == Domain && Rules.TryGetValue(node.OpType, out OutputRule[]? rules)
            && rules.FirstOrDefault(r => r.InPlace && r.Output == output) is { } rule ? rule.Input : null;
    }

    private static string? Value(IReadOnlyList<string> names, int index) => index < names.Count && names[index].Length > 0 ? names[index] : null;

    private static bool KnownWithRank(RuntimeGraph graph, IReadOnlySet<string> known, string? value) =>
        value is not null && known.Contains(value) && graph.Types.GetValueOrDefault(value)?.Shape is { Rank: > 0 };
}
