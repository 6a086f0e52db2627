using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = Cast(X): dX = Cast(dY) back to X's (floating-point) type.</summary>
internal sealed class CastGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Cast")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        int type = c.ElementTypeOf(x);
        string dY = outputGradients[0]!;
        c.AddGradient(x, type == c.ElementTypeOf(node.Output(0)!) ? dY : c.Emit.Cast(dY, type, GradientContext.GradName(x)));
    }
}
