using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = Expand(X, shape): dX = dY summed over the axes X was broadcast along.</summary>
internal sealed class ExpandGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Expand")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        c.AddGradient(x, c.Broadcast.ToShapeOf(outputGradients[0]!, x, node.Output(0)!));
    }
}
