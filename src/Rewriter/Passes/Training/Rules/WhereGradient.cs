using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = Where(C, A, B): dA = Where(C, dY, 0), dB = Where(C, 0, dY), each reduced to its input's shape. C gets none.</summary>
internal sealed class WhereGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Where")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        string condition = node.Input(0)!;
        string a = node.Input(1)!;
        string b = node.Input(2)!;
        if (!c.NeedsGradient(a) && !c.NeedsGradient(b)) return;
        string zero = c.Emit.Scalar(0.0, c.ElementTypeOf(y), "zero");
        if (c.NeedsGradient(a))
        {
            string masked = c.Emit.Op("Where", [condition, dY, zero], GradientContext.GradName(a));
            c.AddGradient(a, c.Broadcast.ToShapeOf(masked, a, y));
        }
        if (c.NeedsGradient(b))
        {
            string masked = c.Emit.Op("Where", [condition, zero, dY], GradientContext.GradName(b));
            c.AddGradient(b, c.Broadcast.ToShapeOf(masked, b, y));
        }
    }
}
