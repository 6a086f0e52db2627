using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Memory;

/// <summary>What a saved activation is kept for, as in METHOD.md's breakdown.</summary>
public enum ActivationKind
{
    /// <summary>
    /// Input of a GELU or SiLU, kept for its gradient op (GeluGrad, SigmoidGrad, ...); the tensor
    /// ReGELU2/ReSiLU2 replace by a 2-bit code.
    /// </summary>
    GeluSiluInput,
    /// <summary>
    /// Input of a LayerNorm or RMSNorm, kept for its gradient; the tensor MS-LN/MS-RMSNorm stop
    /// keeping.
    /// </summary>
    NormInput,
    /// <summary>
    /// Attention's saved tensors: softmax and dropout outputs, and the products Q·Kᵀ and P·V of two
    /// computed values.
    /// </summary>
    Attention,
    /// <summary>Activation read by a MatMul/Gemm in backward: the input a weight gradient needs.</summary>
    LinearInput,
    /// <summary>Anything else backward reads (masks, reshaped views, loss intermediates).</summary>
    Other,
}

/// <summary>Names a saved tensor's kind from the backward nodes that read it (and, for attention, its producer).</summary>
public static class ActivationKinds
{
    private static readonly HashSet<string> ActivationGradients = new(StringComparer.Ordinal)
    {
        "GeluGrad", "FastGeluGrad", "BiasGeluGrad_dX", "BiasFastGeluGrad_dX", "QuickGeluGrad", "SigmoidGrad", "ReGelu2Grad", "ReSilu2Grad",
    };

    private static readonly HashSet<string> NormGradients = new(StringComparer.Ordinal)
    {
        "LayerNormalizationGrad", "SimplifiedLayerNormalizationGrad", "InvertibleLayerNormalizationGrad", "MsLayerNormGrad", "MsRmsNormGrad",
    };

    private static readonly HashSet<string> AttentionGradients = new(StringComparer.Ordinal) { "SoftmaxGrad", "SoftmaxGrad_13", "DropoutGrad", "BitmaskDropoutGrad" };

    private static readonly HashSet<string> LinearOps = new(StringComparer.Ordinal) { "MatMul", "Gemm", "FusedMatMul", "Reshape", "Transpose" };

    /// <summary>
    /// The snake_case name of <paramref name="kind"/> in `memory` reports, text and JSON alike, e.g.
    /// "gelu_silu_input".
    /// </summary>
    public static string Name(ActivationKind kind) => kind switch
    {
        ActivationKind.GeluSiluInput => "gelu_silu_input",
        ActivationKind.NormInput => "norm_input",
        ActivationKind.Attention => "attention",
        ActivationKind.LinearInput => "linear_input",
        _ => "other",
    };

    internal static ActivationKind Of(OnnxNode? producer, IReadOnlyList<OnnxNode> backwardReaders, IEnumerable<OnnxNode> forwardReaders)
    {
        if (backwardReaders.Any(n => ActivationGradients.Contains(n.OpType))) return ActivationKind.GeluSiluInput;
        if (backwardReaders.Any(n => NormGradients.Contains(n.OpType))) return ActivationKind.NormInput;
        if (backwardReaders.Any(n => AttentionGradients.Contains(n.OpType))
            || (producer is not null && (producer.Is("Softmax") || IsActivationProduct(producer)))
            || forwardReaders.Any(IsActivationProduct))
        {
            return ActivationKind.Attention;
        }
        if (backwardReaders.Any(n => LinearOps.Contains(n.OpType))) return ActivationKind.LinearInput;
        return ActivationKind.Other;
    }

    /// <summary>A MatMul of two computed values (Q·Kᵀ, P·V), not of an activation and a weight.</summary>
    private static bool IsActivationProduct(OnnxNode node) =>
        (node.Is("MatMul") || node.Is("FusedMatMul", "com.microsoft"))
        && node.Inputs.Count >= 2 && IsComputed(node.Graph, node.Inputs[0], 0) && IsComputed(node.Graph, node.Inputs[1], 0);

    /// <summary>Computed by the graph from its data, not a weight (graph input, initializer, constant) or a reshaped weight.</summary>
    private static bool IsComputed(OnnxGraph graph, string value, int depth)
    {
        if (graph.Initializer(value) is not null || graph.IsGraphInput(value) || depth > 4) return false;
        OnnxNode? producer = graph.Producer(value);
        if (producer is null || producer.Is("Constant")) return false;
        if (producer.Is("Transpose") || producer.Is("Cast") || producer.Is("Identity") || producer.Is("Reshape"))
        {
            return producer.Input(0) is { } source && IsComputed(graph, source, depth + 1);
        }
        return true;
    }
}
