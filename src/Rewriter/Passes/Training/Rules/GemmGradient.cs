using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = alpha·op(A)·op(B) + beta·C. Each operand gradient is again one Gemm with the transposes
/// rearranged: for op(A) = A, dA = alpha·dY·op(B)ᵀ; for op(A) = Aᵀ, dA = alpha·op(B)·dYᵀ (and the
/// same for B). dC = beta·dY summed over the axes C was broadcast along.
/// </summary>
internal sealed class GemmGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Gemm")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        float alpha = node.GetFloat("alpha", 1f);
        float beta = node.GetFloat("beta", 1f);
        long transA = node.GetInt("transA", 0);
        long transB = node.GetInt("transB", 0);
        if (c.NeedsGradient(a))
        {
            string dA = transA == 0
                ? Gemm(c, dY, b, alpha, 0, 1 - transB, a)
                : Gemm(c, b, dY, alpha, transB, 1, a);
            c.AddGradient(a, dA);
        }
        if (c.NeedsGradient(b))
        {
            string dB = transB == 0
                ? Gemm(c, a, dY, alpha, 1 - transA, 0, b)
                : Gemm(c, dY, a, alpha, 1, transA, b);
            c.AddGradient(b, dB);
        }
        if (node.Input(2) is { } bias && c.NeedsGradient(bias))
        {
            string reduced = c.Broadcast.ToShapeOf(dY, bias, node.Output(0)!);
            c.AddGradient(bias, RuleHelpers.Scale(c, reduced, beta, c.ElementTypeOf(bias), GradientContext.GradName(bias)));
        }
    }

    private static string Gemm(GradientContext c, string left, string right, float alpha, long transLeft, long transRight, string target) =>
        c.Emit.Op("Gemm", [left, right], GradientContext.GradName(target), "",
            GraphEmitter.Float("alpha", alpha), GraphEmitter.Int("transA", transLeft), GraphEmitter.Int("transB", transRight));
}
