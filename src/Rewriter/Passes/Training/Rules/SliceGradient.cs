using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = Slice(X, starts, ends, axes, steps) → SliceGrad(dY, Shape(X), starts, ends, axes, steps)
/// (com.microsoft): dY scattered into zeros of X's shape. Slice-1's attributes become constants.
/// </summary>
internal sealed class SliceGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Slice")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        var inputs = new List<string> { outputGradients[0]!, ReductionGradients.ShapeConstantOrRuntime(c, x) };
        if (node.GetInts("starts") is { } starts)
        {
            inputs.Add(c.Emit.Int64s(starts.ToArray()));
            inputs.Add(c.Emit.Int64s(node.GetInts("ends")!.ToArray()));
            if (node.GetInts("axes") is { } axes) inputs.Add(c.Emit.Int64s(axes.ToArray()));
        }
        else
        {
            for (int i = 1; i < node.Inputs.Count; i++) inputs.Add(node.Inputs[i]);
        }
        c.AddGradient(x, c.Emit.Op("SliceGrad", inputs, GradientContext.GradName(x), GraphEmitter.MicrosoftDomain));
    }
}
