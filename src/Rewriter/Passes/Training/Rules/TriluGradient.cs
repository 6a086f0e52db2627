using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = Trilu(X, k, upper): dX = Trilu(dY, k, upper), the same triangle kept.</summary>
internal sealed class TriluGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Trilu")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        var inputs = new List<string> { outputGradients[0]! };
        if (node.Input(1) is { } k) inputs.Add(k);
        c.AddGradient(x, c.Emit.Op("Trilu", inputs, GradientContext.GradName(x), "", GraphEmitter.Int("upper", node.GetInt("upper", 1))));
    }
}
