using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = A / B: dA = dY / B, dB = −dY·A / B² = −dY·Y / B, each reduced to its input's shape.</summary>
internal sealed class DivGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Div")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        string? dYOverB = null;
        if (c.NeedsGradient(a))
        {
            dYOverB = c.Emit.Op("Div", [dY, b], GradientContext.GradName(a));
            c.AddGradient(a, c.Broadcast.ToShapeOf(dYOverB, a, y));
        }
        if (c.NeedsGradient(b))
        {
            dYOverB ??= c.Emit.Op("Div", [dY, b], dY + "_over_" + b);
            string product = c.Emit.Op("Mul", [dYOverB, y], GradientContext.GradName(b));
            string negated = c.Emit.Op("Neg", [product], GradientContext.GradName(b));
            c.AddGradient(b, c.Broadcast.ToShapeOf(negated, b, y));
        }
    }
}
