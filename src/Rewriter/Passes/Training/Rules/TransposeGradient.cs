using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Y = Transpose(X, perm): dX = Transpose(dY, perm⁻¹) (perm defaults to reversing the axes).</summary>
internal sealed class TransposeGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Transpose")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        long[] perm = node.GetInts("perm")?.ToArray()
            ?? Enumerable.Range(0, RuleHelpers.RequireRank(c, node, x)).Reverse().Select(i => (long)i).ToArray();
        if (perm.Order().Select((p, i) => p != i).Any(differs => differs))
        {
            throw new Onnx.InvalidModelException(c.Emit.Graph.Model.FileName, $"perm [{string.Join(",", perm)}] is not a permutation of the axes", node.Label);
        }
        var inverse = new long[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        c.AddGradient(x, c.Emit.Op("Transpose", [outputGradients[0]!], GradientContext.GradName(x), "", GraphEmitter.Ints("perm", inverse)));
    }
}
