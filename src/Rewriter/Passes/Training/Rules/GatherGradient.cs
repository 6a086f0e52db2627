using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = Gather(X, indices, axis) → GatherGrad(Shape(X), indices, dY) (com.microsoft, same axis):
/// dY's slices added into zeros of X's shape at the gathered positions (repeats accumulate).
/// </summary>
internal sealed class GatherGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Gather")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        string shape = ReductionGradients.ShapeConstantOrRuntime(c, x);
        c.AddGradient(x, c.Emit.Op("GatherGrad", [shape, node.Input(1)!, outputGradients[0]!], GradientContext.GradName(x),
            GraphEmitter.MicrosoftDomain, GraphEmitter.Int("axis", node.GetInt("axis", 0))));
    }
}
