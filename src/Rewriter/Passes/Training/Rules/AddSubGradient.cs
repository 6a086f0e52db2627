using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = A + B: dA = dY, dB = dY. Y = A − B: dA = dY, dB = −dY. Each reduced to its input's shape.</summary>
internal sealed class AddSubGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Add"), ("", "Sub")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        if (c.NeedsGradient(a))
        {
            c.AddGradient(a, c.Broadcast.ToShapeOf(dY, a, y));
        }
        if (c.NeedsGradient(b))
        {
            string reduced = c.Broadcast.ToShapeOf(dY, b, y);
            c.AddGradient(b, node.OpType == "Sub" ? c.Emit.Op("Neg", [reduced], GradientContext.GradName(b)) : reduced);
        }
    }
}
