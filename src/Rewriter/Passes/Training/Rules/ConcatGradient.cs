using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = Concat(X₀..Xₙ, axis): dY is split back into pieces of the inputs' sizes along the axis
/// (constant sizes when known, else gathered from the inputs' shapes at run time).
/// </summary>
internal sealed class ConcatGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Concat")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        var inputs = node.Inputs.ToList();
        int rank = RuleHelpers.RequireRank(c, node, node.Output(0)!);
        int axis = RuleHelpers.NormalizeAxis(node.GetInt("axis", 0), rank);
        long?[] sizes = inputs.Select(i => c.ShapeOf(i)?.Dims[axis].Value).ToArray();
        string?[] hints = inputs.Select(i => (string?)GradientContext.GradName(i)).ToArray();
        string[] pieces;
        if (sizes.All(s => s is not null))
        {
            pieces = c.Emit.Split(dY, axis, sizes.Select(s => s!.Value).ToArray(), null, hints!);
        }
        else
        {
            string axisIndex = c.Emit.Int64s([axis]);
            var dims = inputs.Select(i => c.Emit.Op("Gather", [c.Emit.Shape(i), axisIndex], i + "_concat_dim", "", GraphEmitter.Int("axis", 0))).ToList();
            string sizeTensor = c.Emit.Op("Concat", dims, "concat_sizes", "", GraphEmitter.Int("axis", 0));
            pieces = c.Emit.Split(dY, axis, null, sizeTensor, hints!);
        }
        for (int i = 0; i < inputs.Count; i++)
        {
            c.AddGradient(inputs[i], pieces[i]);
        }
    }
}
