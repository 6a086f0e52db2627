namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// The values whose shape ONNX Runtime knows when it plans memory, before any run. The planner only
/// reuses a dead buffer for a tensor, or lets an output take an input's buffer in place, when both
/// have static shapes (PlannerImpl::SameSize; FindReusableTensor gives up on an unknown shape), so
/// values the runtime cannot infer always get buffers of their own.
/// The runtime infers shapes with each op's ONNX shape-inference function. The stock runtime has
/// those for the ONNX ops and its own contrib ops. Of the training ops of this project's custom-op
/// library (domain com.microsoft), the loss, its gradients and the softmax gradients infer the
/// outputs <see cref="LibraryTrainingOps"/> lists; the others (pointwise, layer-norm, dropout,
/// slice and gather gradients, ...) are registered without inference, so their outputs, and
/// everything computed from them, have no static shape. The library's own com.onnxmemopt ops infer
/// their outputs from input 0.
/// </summary>
public static class RuntimeStaticShapes
{
    /// <summary>com.microsoft ops of the stock runtime (contrib ops with shape inference).</summary>
    private static readonly HashSet<string> StockMicrosoftOps = new(StringComparer.Ordinal)
    {
        "FusedMatMul", "FusedGemm", "FusedConv", "Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasSoftmax",
        "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization",
        "ExpandDims", "Attention", "MultiHeadAttention", "RotaryEmbedding", "Trilu",
    };

    /// <summary>
    /// The domain of the library's own ops (ReGelu2, MsLayerNorm, ...), whose outputs all take input
    /// 0's shape.
    /// </summary>
    public const string ProjectDomain = "com.onnxmemopt";

    /// <summary>
    /// The values with a static shape: inputs and constants of known type, then, walking
    /// <paramref name="order"/>, the outputs of each node whose inference the runtime runs on known
    /// inputs.
    /// </summary>
    public static IReadOnlySet<string> Of(RuntimeGraph graph, IReadOnlyList<RuntimeNode> order)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(order);
        var known = new HashSet<string>(StringComparer.Ordinal);
        known.UnionWith(graph.Inputs.Where(graph.Types.ContainsKey));
        known.UnionWith(graph.Constants.Where(graph.Types.ContainsKey));
        foreach (RuntimeNode node in order)
        {
            if (LibraryTrainingOps.IsLibraryOp(node))
            {
                known.UnionWith(LibraryTrainingOps.InferredOutputs(graph, node, known).Where(graph.Types.ContainsKey).ToList());
                continue;
            }
            bool inferred = node.Domain switch
            {
                "" when node.OpType == "Reshape" => known.Contains(node.Inputs[0]) || IsFixedShape(graph, node.Inputs.ElementAtOrDefault(1)),
                "" => node.PresentInputs.All(known.Contains),
                "com.microsoft" => StockMicrosoftOps.Contains(node.OpType) && node.PresentInputs.All(known.Contains),
                ProjectDomain => node.Inputs.Count > 0 && known.Contains(node.Inputs[0]),
                _ => false,
            };
            if (!inferred) continue;
            foreach (string output in node.PresentOutputs.Where(graph.Types.ContainsKey)) known.Add(output);
        }
        return known;
    }

    /// <summary>
    /// A Reshape target whose every entry is a positive constant: ONNX's Reshape inference then knows the
    /// output shape without the input's (0 copies an input dim and -1 is computed from the input's size).
    /// </summary>
    private static bool IsFixedShape(RuntimeGraph graph, string? shape) =>
        shape is not null && graph.SmallIntConstants.TryGetValue(shape, out long[]? dims) && dims.All(d => d > 0);
}
