namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// What ONNX Runtime's CPU kernels declare about their output buffers (KernelDefBuilder::Alias and
/// ::MayInplace, read by the allocation planner's FindReusableInput):
/// an alias output always shares the input's buffer (a view: Reshape, Squeeze, Unsqueeze, Flatten,
/// Identity); a may-in-place output takes the input's buffer when this node is the input's last
/// reader and both have the same static shape and element size (the unary activations; Softmax and
/// LogSoftmax for float).
/// Of this project's custom-op library, only the CPU training ops that
/// <see cref="LibraryTrainingOps"/> lists declare may-in-place outputs (no alias); its com.onnxmemopt
/// ops declare neither.
/// </summary>
public static class CpuKernelBuffers
{
    private static readonly HashSet<string> AliasOps = new(StringComparer.Ordinal)
    {
        "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity",
    };

    private static readonly HashSet<string> InPlaceActivations = new(StringComparer.Ordinal)
    {
        "Relu", "Sigmoid", "Tanh", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "Softplus", "Softsign", "ThresholdedRelu",
        "Softmax", "LogSoftmax",
    };

    /// <summary>The input whose buffer output <paramref name="output"/> must share, or null.</summary>
    public static int? AliasedInput(RuntimeNode node, int output) =>
        output == 0 && node.Domain.Length == 0 && AliasOps.Contains(node.OpType) ? 0
        : output == 0 && node.Is("ExpandDims", "com.microsoft") ? 0
        : null;

    /// <summary>The input whose buffer output <paramref name="output"/> may take over in place, or null.</summary>
    public static int? InPlaceInput(RuntimeNode node, int output) =>
        output == 0 && node.Domain.Length == 0 && InPlaceActivations.Contains(node.OpType) ? 0
        : LibraryTrainingOps.InPlaceInput(node, output);
}
