using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// com.microsoft FusedMatMul: Y = alpha·op(A)·op(B), op a transpose of the last two axes when
/// transA/transB is set. The gradients are FusedMatMuls again, with the transposes moved:
/// dA = alpha·dY·op(B)ᵀ (or its transpose), dB = alpha·op(A)ᵀ·dY (or its transpose).
/// </summary>
internal sealed class FusedMatMulGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [(GraphEmitter.MicrosoftDomain, "FusedMatMul")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        if (node.GetInt("transBatchA", 0) != 0 || node.GetInt("transBatchB", 0) != 0)
        {
            throw new UnsupportedModelException(c.ModelFile, "FusedMatMul with transBatchA/transBatchB has no gradient rule", node.Label);
        }
        string dY = outputGradients[0]!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        float alpha = node.GetFloat("alpha", 1f);
        long transA = node.GetInt("transA", 0);
        long transB = node.GetInt("transB", 0);
        TensorShape? yShape = c.ShapeOf(node.Output(0));
        if (c.NeedsGradient(a))
        {
            string dA = transA == 0
                ? Fused(c, dY, b, alpha, 0, 1 - transB, a)
                : Fused(c, b, dY, alpha, transB, 1, a);
            c.AddGradient(a, c.Broadcast.ToShapeOf(dA, a, MatMulGradient.WithLastTwo(yShape, c.ShapeOf(a))));
        }
        if (c.NeedsGradient(b))
        {
            string dB = transB == 0
                ? Fused(c, a, dY, alpha, 1 - transA, 0, b)
                : Fused(c, dY, a, alpha, 1, transA, b);
            c.AddGradient(b, c.Broadcast.ToShapeOf(dB, b, MatMulGradient.WithLastTwo(yShape, c.ShapeOf(b))));
        }
    }

    private static string Fused(GradientContext c, string left, string right, float alpha, long transLeft, long transRight, string target) =>
        c.Emit.Op("FusedMatMul", [left, right], GradientContext.GradName(target), GraphEmitter.MicrosoftDomain,
            GraphEmitter.Float("alpha", alpha), GraphEmitter.Int("transA", transLeft), GraphEmitter.Int("transB", transRight));
}
