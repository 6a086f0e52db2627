using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Ops that only relabel the elements (Reshape, Flatten, Squeeze, Unsqueeze) pass dY back reshaped
/// to X's shape (a constant when X's shape is fully known); Identity passes dY through unchanged.
/// </summary>
internal sealed class ReshapeLikeGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Reshape"), ("", "Flatten"), ("", "Squeeze"), ("", "Unsqueeze"), ("", "Identity")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        string dY = outputGradients[0]!;
        if (node.OpType == "Identity")
        {
            c.AddGradient(x, dY);
            return;
        }
        c.AddGradient(x, c.Emit.Op("Reshape", [dY, ReductionGradients.ShapeConstantOrRuntime(c, x)], GradientContext.GradName(x)));
    }
}
