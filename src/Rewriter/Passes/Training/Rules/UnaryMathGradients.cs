using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Elementwise functions whose derivative is a short standard-op formula:
/// Neg: −dY; Sqrt: dY·0.5/Y; Erf: dY·(2/√π)·exp(−x²); Exp: dY·Y; Log: dY/X; Reciprocal: −dY·Y².
/// </summary>
internal sealed class UnaryMathGradients : IGradientRule
{
    private static readonly double TwoOverSqrtPi = 2.0 / Math.Sqrt(Math.PI);

    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Neg"), ("", "Sqrt"), ("", "Erf"), ("", "Exp"), ("", "Log"), ("", "Reciprocal")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string x = node.Input(0)!;
        string y = node.Output(0)!;
        if (!c.NeedsGradient(x)) return;
        string hint = GradientContext.GradName(x);
        int type = c.ElementTypeOf(x);
        GraphEmitter e = c.Emit;
        string dX = node.OpType switch
        {
            "Neg" => e.Op("Neg", [dY], hint),
            "Sqrt" => e.Op("Mul", [e.Op("Div", [dY, y], hint), e.Scalar(0.5, type)], hint),
            "Erf" => e.Op("Mul", [dY, e.Op("Mul", [e.Op("Exp", [e.Op("Neg", [e.Op("Mul", [x, x], x + "_sq")], x + "_neg_sq")], x + "_exp"), e.Scalar(TwoOverSqrtPi, type)], x + "_erf_deriv")], hint),
            "Exp" => e.Op("Mul", [dY, y], hint),
            "Log" => e.Op("Div", [dY, x], hint),
            "Reciprocal" => e.Op("Neg", [e.Op("Mul", [dY, e.Op("Mul", [y, y], y + "_sq")], hint)], hint),
            _ => throw new InvalidOperationException(node.OpType),
        };
        c.AddGradient(x, dX);
    }
}
