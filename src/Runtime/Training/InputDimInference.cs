using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// Infers sizes of symbolic user-input dimensions from the parameters those inputs are multiplied
/// with: exporters often leave every input dimension symbolic (ONNX Runtime's MLP artifacts take
/// input-0 as [input-0_dim0, input-0_dim1]) although the first layer's weight fixes the feature size.
/// Only direct Gemm and MatMul consumers are used; anything else stays for the caller to give.
/// </summary>
public static class InputDimInference
{
    /// <summary>Sizes for the symbolic contraction dimensions of user inputs that feed a Gemm or MatMul directly with a parameter as the second operand.</summary>
    /// <param name="model">The training model whose nodes are searched.</param>
    /// <param name="layout">Its layout, which names the user inputs and their shapes.</param>
    /// <param name="parameterDims">Shapes of the parameters, by name (from the checkpoint).</param>
    /// <returns>Size by dimension symbol; the first consumer found decides. Symbols not inferred are absent.</returns>
    public static IReadOnlyDictionary<string, long> FromConsumers(ModelProto model, TrainingModelLayout layout,
        IReadOnlyDictionary<string, long[]> parameterDims)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(parameterDims);
        var inputs = layout.UserInputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (NodeProto node in model.Graph?.Node ?? [])
        {
            if (node.Input.Count < 2 || !inputs.TryGetValue(node.Input[0], out TensorSpec? input)
                || !parameterDims.TryGetValue(node.Input[1], out long[]? weight) || weight.Length < 2)
            {
                continue;
            }
            (int axis, long size) = node.OpType switch
            {
                // Gemm: A' [M, K] · B' [K, N]; A' = transA ? Aᵀ : A, B' = transB ? Bᵀ : B.
                "Gemm" when node.Domain is "" or "ai.onnx" && input.Shape.Count == 2 && weight.Length == 2 =>
                    (Attribute(node, "transA") == 0 ? 1 : 0, Attribute(node, "transB") == 0 ? weight[0] : weight[1]),
                // MatMul: [..., K] · [..., K, N].
                "MatMul" when node.Domain is "" or "ai.onnx" && input.Shape.Count >= 1 =>
                    (input.Shape.Count - 1, weight[^2]),
                _ => (-1, 0L),
            };
            if (axis >= 0 && input.Shape[axis] is { Value: null, Symbol: { } symbol })
            {
                result.TryAdd(symbol, size);
            }
        }
        return result;
    }

    private static long Attribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? 0;
}
