namespace OnnxMemOpt.Onnx;

/// <summary>
/// Bounds that keep a hostile model from exhausting memory or time. The defaults are far above any
/// real transformer training graph (a 70B model has under 10,000 nodes per graph) yet small enough
/// that checking them is cheap.
/// </summary>
public sealed record ModelLimits
{
    /// <summary>The limits every load uses unless the caller passes its own.</summary>
    public static ModelLimits Default { get; } = new();

    /// <summary>How deep If/Loop/Scan bodies (and protobuf messages) may nest.</summary>
    public int MaxSubgraphDepth { get; init; } = 32;

    /// <summary>Nodes in all graphs of the model together.</summary>
    public int MaxNodes { get; init; } = 1_000_000;

    /// <summary>Bytes one tensor may claim (checked from its dims before anything is allocated).</summary>
    public long MaxTensorBytes { get; init; } = 64L << 30;

    /// <summary>Protobuf message nesting allowed while parsing (each graph level costs ~4).</summary>
    public int ProtobufRecursionLimit => MaxSubgraphDepth * 4 + 16;
}
