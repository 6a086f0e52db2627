using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = A·B (elementwise, broadcasting): dA = dY·B, dB = dY·A, each reduced to its input's shape.</summary>
internal sealed class MulGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Mul")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        if (c.NeedsGradient(a))
        {
            string full = c.Emit.Op("Mul", [dY, b], GradientContext.GradName(a));
            c.AddGradient(a, c.Broadcast.ToShapeOf(full, a, y));
        }
        if (c.NeedsGradient(b))
        {
            string full = c.Emit.Op("Mul", [dY, a], GradientContext.GradName(b));
            c.AddGradient(b, c.Broadcast.ToShapeOf(full, b, y));
        }
    }
}
