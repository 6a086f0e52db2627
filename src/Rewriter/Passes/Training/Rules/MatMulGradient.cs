using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = A·B (numpy matmul semantics, rank ≥ 2): dA = dY·Bᵀ and dB = Aᵀ·dY, each summed over the
/// batch axes its operand was broadcast along. The common linear-layer case (A [.., K], B [K, N])
/// flattens A and dY to 2-D so that dB is one Gemm(transA) instead of a batched product.
/// </summary>
internal sealed class MatMulGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "MatMul")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        int rankA = RuleHelpers.RequireRank(c, node, a);
        int rankB = RuleHelpers.RequireRank(c, node, b);
        if (rankA < 2 || rankB < 2)
        {
            throw new UnsupportedModelException(c.ModelFile, "MatMul with a 1-D operand has no gradient rule yet", node.Label);
        }
        TensorShape? yShape = c.ShapeOf(node.Output(0));

        if (c.NeedsGradient(a))
        {
            string dA = c.Emit.Op("MatMul", [dY, RuleHelpers.SwapLastTwo(c, b, rankB)], GradientContext.GradName(a));
            c.AddGradient(a, c.Broadcast.ToShapeOf(dA, a, WithLastTwo(yShape, c.ShapeOf(a))));
        }
        if (c.NeedsGradient(b))
        {
            c.AddGradient(b, GradientOfB(node, c, dY, a, b, rankA, rankB, yShape));
        }
    }

    private static string GradientOfB(OnnxNode node, GradientContext c, string dY, string a, string b, int rankA, int rankB, TensorShape? yShape)
    {
        TensorShape? bShape = c.ShapeOf(b);
        if (rankB == 2 && rankA > 2 && bShape is { } s && s.Dims[0].Value is { } k && s.Dims[1].Value is { } n)
        {
            // Every batch row of A meets the same B: sum over rows in one 2-D product.
            string a2 = c.Emit.Op("Reshape", [a, c.Emit.Int64s([-1, k])], a + "_2d");
            string dY2 = c.Emit.Op("Reshape", [dY, c.Emit.Int64s([-1, n])], dY + "_2d");
            return c.Emit.Op("Gemm", [a2, dY2], GradientContext.GradName(b), "", GraphEmitter.Int("transA", 1));
        }
        string dB = c.Emit.Op("MatMul", [RuleHelpers.SwapLastTwo(c, a, rankA), dY], GradientContext.GradName(b));
        return c.Broadcast.ToShapeOf(dB, b, WithLastTwo(yShape, bShape));
    }

    /// <summary>The shape of a full (unreduced) operand gradient: Y's batch axes with the operand's last two axes.</summary>
    internal static TensorShape? WithLastTwo(TensorShape? yShape, TensorShape? operand)
    {
        if (yShape is null || operand is null || yShape.Rank < 2 || operand.Rank < 2) return null;
        return new TensorShape([.. yShape.Dims.Take(yShape.Rank - 2), .. operand.Dims.Skip(operand.Rank - 2)]);
    }
}
