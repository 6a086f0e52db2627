using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph;

/// <summary>Whether a Dropout node drops anything: opset 12's training_mode input decides.</summary>
public static class DropoutMode
{
    /// <summary>
    /// True unless the node is an identity: an inference export's Dropout has no training_mode
    /// input (or a constant false one), a training export's a constant true; a training_mode
    /// computed at run time may be true, so it counts as training.
    /// </summary>
    public static bool IsTraining(OnnxNode node)
    {
        if (!node.Is("Dropout") || node.Input(2) is not { } mode) return false;
        return node.Graph.ConstantTensor(mode) is not { } t || TensorData.ToInt64s(t, node.Graph.Model) is not [0];
    }
}
