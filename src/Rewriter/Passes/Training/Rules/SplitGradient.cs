using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// (Y₀..Yₙ) = Split(X, axis): dX = Concat(dY₀..dYₙ, axis), with zeros of Yᵢ's shape standing in
/// for outputs that do not reach the loss.
/// </summary>
internal sealed class SplitGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Split")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        int type = c.ElementTypeOf(x);
        var pieces = new List<string>();
        for (int i = 0; i < node.Outputs.Count; i++)
        {
            pieces.Add(outputGradients[i] ?? Zeros(c, node.Outputs[i], type));
        }
        int rank = RuleHelpers.RequireRank(c, node, x);
        long axis = RuleHelpers.NormalizeAxis(node.GetInt("axis", 0), rank);
        c.AddGradient(x, c.Emit.Op("Concat", pieces, GradientContext.GradName(x), "", GraphEmitter.Int("axis", axis)));
    }

    /// <summary>Zeros shaped like <paramref name="like"/>.</summary>
    internal static string Zeros(GradientContext c, string like, int elementType)
    {
        var value = Onnx.TensorData.Create("value", elementType, [1], [0.0]);
        var attribute = new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value };
        return c.Emit.Op("ConstantOfShape", [ReductionGradients.ShapeConstantOrRuntime(c, like)], like + "_zero_grad", "", attribute);
    }
}
