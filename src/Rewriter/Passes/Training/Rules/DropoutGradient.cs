using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Dropout(data, ratio, training_mode) → DropoutGrad(dY, mask, ratio, training_mode). An exported
/// inference graph's Dropout (no training_mode, or a constant false) is an identity, and so is its
/// gradient. In training mode the forward node must output its mask, added here when absent.
/// </summary>
internal sealed class DropoutGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Dropout")];

    public bool PrepareForward(OnnxNode node)
    {
        if (IsIdentity(node) || node.Output(1) is not null) return false;
        string mask = node.Graph.UniqueName(node.Outputs[0] + "_mask");
        if (node.Proto.Output.Count > 1) node.Proto.Output[1] = mask; else node.Proto.Output.Add(mask);
        return true;
    }

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        string dY = outputGradients[0]!;
        if (IsIdentity(node))
        {
            c.AddGradient(x, dY);
            return;
        }
        var inputs = new List<string> { dY, node.Output(1)!, node.Input(1) ?? "", node.Input(2)! };
        c.AddGradient(x, c.Emit.Op("DropoutGrad", inputs, GradientContext.GradName(x), GraphEmitter.MicrosoftDomain));
    }

    /// <summary>True when the node runs in inference mode: before opset 12, or without a training_mode input, or with a constant false one.</summary>
    private static bool IsIdentity(OnnxNode node) => !DropoutMode.IsTraining(node);
}
