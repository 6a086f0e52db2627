using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Activations with ONNX Runtime gradient ops that read the forward output:
/// Sigmoid → SigmoidGrad(dY, Y), Tanh → TanhGrad(dY, Y), Relu → ReluGrad(dY, Y) (Relu's output has
/// the sign pattern of its input, so the input need not be kept).
/// </summary>
internal sealed class ActivationGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Sigmoid"), ("", "Tanh"), ("", "Relu")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        string op = node.OpType + "Grad";
        c.AddGradient(x, c.Emit.Op(op, [outputGradients[0]!, node.Output(0)!], GradientContext.GradName(x), GraphEmitter.MicrosoftDomain));
    }
}
