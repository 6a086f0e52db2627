using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// SimplifiedLayerNormalization(X, scale) (RMSNorm) → SimplifiedLayerNormalizationGrad(dY, X,
/// scale, inv_std_var) → (dX, dScale). The forward node must output inv_std_var; ONNX's
/// RMSNormalization-23 cannot, so it is rewritten into the equivalent SimplifiedLayerNormalization
/// (same attributes: axis, epsilon, stash_type) as ONNX Runtime's generator would see it.
/// </summary>
internal sealed class SimplifiedLayerNormGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("*", "SimplifiedLayerNormalization"), ("", "RMSNormalization")];

    public bool PrepareForward(OnnxNode node)
    {
        bool changed = false;
        if (node.OpType == "RMSNormalization")
        {
            node.Proto.OpType = "SimplifiedLayerNormalization";
            changed = true;
        }
        return NormOutputs.Ensure(node, ["saved_inv_std_var"]) | changed;
    }

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0] ?? throw new InvalidOperationException("the inv_std_var output is not differentiable");
        string x = node.Input(0)!;
        string scale = node.Input(1)!;
        string[] grads = c.Emit.OpMulti("SimplifiedLayerNormalizationGrad", [dY, x, scale, node.Output(1)!],
            [GradientContext.GradName(x), GradientContext.GradName(scale)],
            GraphEmitter.MicrosoftDomain, GraphEmitter.Int("axis", node.GetInt("axis", -1)));
        c.AddGradient(x, grads[0]);
        c.AddGradient(scale, grads[1]);
    }
}
