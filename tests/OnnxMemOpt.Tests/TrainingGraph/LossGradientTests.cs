using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.TrainingGraph.RuleGradCheck;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>The loss heads' gradients (cross-entropy through SoftmaxCrossEntropyLossInternal, MSE) against finite differences.</summary>
public sealed class LossGradientTests
{
    [Theory]
    [InlineData(new long[] { 3, 4 })]
    [InlineData(new long[] { 2, 3, 5 })]
    public void CrossEntropyOverLogits(long[] shape)
    {
        var m = new TinyModel().Initializer(Random("X", shape, 1, min: -2, max: 2)).Initializer(Random("W", shape, 2))
            .Node("Mul", ["X", "W"], ["logits"]).OutputUnshaped("logits", F64);
        AssertWithin(Run(m, ["X", "W"], LossKind.CrossEntropy), 1e-6);
    }

    [Fact]
    public void MeanSquaredError()
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3], 1)).Node("Tanh", ["X"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["X"], LossKind.MeanSquaredError), 1e-6);
    }
}
