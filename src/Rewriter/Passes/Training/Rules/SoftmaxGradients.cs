using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Softmax → SoftmaxGrad_13(dY, Y) and LogSoftmax → LogSoftmaxGrad_13(dY, Y) for opset 13+ (the
/// reduction runs over the single axis); before opset 13 the op coerces its input to 2-D at
/// `axis`, which SoftmaxGrad / LogSoftmaxGrad reproduce. The axis attribute is passed on with
/// the opset's default when absent.
/// </summary>
internal sealed class SoftmaxGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Softmax"), ("", "LogSoftmax")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        bool opset13 = c.Emit.Opset >= 13;
        long axis = node.GetInt("axis", opset13 ? -1 : 1);
        string op = node.OpType + "Grad" + (opset13 ? "_13" : "");
        c.AddGradient(x, c.Emit.Op(op, [outputGradients[0]!, node.Output(0)!], GradientContext.GradName(x), GraphEmitter.MicrosoftDomain, GraphEmitter.Int("axis", axis)));
    }
}
