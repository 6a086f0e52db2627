using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Softmax cross-entropy losses and their ONNX Runtime gradients, which read the forward pass's
/// log-probabilities (added as an output when absent):
/// com.microsoft SoftmaxCrossEntropyLossInternal(scores, labels, weights?, ignore_index?) →
/// SoftmaxCrossEntropyLossInternalGrad(dY, log_prob, labels, weights?, ignore_index?);
/// ONNX SoftmaxCrossEntropyLoss(scores, labels, weights?) → SoftmaxCrossEntropyLossGrad(dY,
/// log_prob, labels, weights?). Attributes (reduction, ignore_index) carry over.
/// </summary>
internal sealed class CrossEntropyGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops =>
        [(GraphEmitter.MicrosoftDomain, "SoftmaxCrossEntropyLossInternal"), ("", "SoftmaxCrossEntropyLoss")];

    public bool PrepareForward(OnnxNode node) => NormOutputs.Ensure(node, ["log_prob"]);

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string scores = node.Input(0)!;
        if (!c.NeedsGradient(scores)) return;
        string dY = outputGradients[0] ?? throw new InvalidOperationException("only the loss output of a cross-entropy node is differentiable");
        bool internalForm = node.Domain == GraphEmitter.MicrosoftDomain;
        var inputs = new List<string> { dY, node.Output(1)!, node.Input(1)! };
        for (int i = 2; i < node.Inputs.Count; i++) inputs.Add(node.Inputs[i]);
        var attributes = node.Proto.Attribute.Select(a => a.Clone()).ToArray();
        string op = internalForm ? "SoftmaxCrossEntropyLossInternalGrad" : "SoftmaxCrossEntropyLossGrad";
        c.AddGradient(scores, c.Emit.Op(op, inputs, GradientContext.GradName(scores), GraphEmitter.MicrosoftDomain, attributes));
    }
}
