using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// LayerNormalization(X, Scale, B) → LayerNormalizationGrad(dY, X, Scale, Mean, InvStdDev) →
/// (dX, dScale, dB), ONNX Runtime's form. The forward node must then also output Mean and
/// InvStdDev, which <see cref="PrepareForward"/> adds when the exporter left them out.
/// </summary>
internal sealed class LayerNormGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("*", "LayerNormalization")];

    public bool PrepareForward(OnnxNode node) => NormOutputs.Ensure(node, ["saved_mean", "saved_inv_std_var"]);

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0] ?? throw new InvalidOperationException("LayerNormalization's Mean/InvStdDev outputs are not differentiable");
        string x = node.Input(0)!;
        string scale = node.Input(1)!;
        string? bias = node.Input(2);
        string[] grads = c.Emit.OpMulti("LayerNormalizationGrad", [dY, x, scale, node.Output(1)!, node.Output(2)!],
            [GradientContext.GradName(x), GradientContext.GradName(scale), GradientContext.GradName(bias ?? node.Output(0)! + "_bias")],
            GraphEmitter.MicrosoftDomain, GraphEmitter.Int("axis", node.GetInt("axis", -1)));
        c.AddGradient(x, grads[0]);
        c.AddGradient(scale, grads[1]);
        if (bias is not null) c.AddGradient(bias, grads[2]);
    }
}
