using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Piecewise-linear ops, differentiated where they are smooth:
/// Abs: dX = dY·sign(X). Clip(X, lo, hi): dX = dY where lo &lt; X &lt; hi, else 0.
/// Min/Max(X₀..Xₙ): dY goes to the inputs equal to Y (reduced to each input's shape); the bounds
/// of Clip and ties of Min/Max have measure zero.
/// </summary>
internal sealed class PiecewiseGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Abs"), ("", "Clip"), ("", "Min"), ("", "Max")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        GraphEmitter e = c.Emit;
        switch (node.OpType)
        {
            case "Abs":
            {
                string x = node.Input(0)!;
                if (c.NeedsGradient(x)) c.AddGradient(x, e.Op("Mul", [dY, e.Op("Sign", [x], x + "_sign")], GradientContext.GradName(x)));
                break;
            }
            case "Clip":
            {
                string x = node.Input(0)!;
                if (!c.NeedsGradient(x)) break;
                // Inside the interval Y equals X; at a bound it does not move with X.
                string inside = e.Op("Equal", [y, x], x + "_unclipped");
                if (node.Input(1) is { } lo) inside = e.Op("And", [inside, e.Op("Greater", [x, lo], x + "_above_min")], x + "_unclipped");
                if (node.Input(2) is { } hi) inside = e.Op("And", [inside, e.Op("Less", [x, hi], x + "_below_max")], x + "_unclipped");
                c.AddGradient(x, e.Op("Where", [inside, dY, e.Scalar(0.0, c.ElementTypeOf(x), "zero")], GradientContext.GradName(x)));
                break;
            }
            default:
            {
                string zero = e.Scalar(0.0, c.ElementTypeOf(y), "zero");
                foreach (string input in node.Inputs.Where(c.NeedsGradient).Distinct())
                {
                    string selected = e.Op("Equal", [y, input], input + "_selected");
                    string masked = e.Op("Where", [selected, dY, zero], GradientContext.GradName(input));
                    c.AddGradient(input, c.Broadcast.ToShapeOf(masked, input, y));
                }
                break;
            }
        }
    }
}
