using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// ONNX Runtime's BERT test export (opset 12: Softmax coerced to 2-D, Gemm pooler, Tanh) trained
/// in full on either head: the gradients of the whole encoder equal finite differences.
/// </summary>
public sealed class BertToyTrainingGraphTests
{
    [SkippableTheory]
    [InlineData("seq_relationship_score", "TanhGrad")]
    [InlineData("prediction_scores", "BiasGeluGrad_dX")]
    public void FullFineTuningMatchesFiniteDifferences(string output, string expectedOp)
    {
        OnnxModel forward = OnnxModel.Load(SharedTestData.RequireFile("forward/bert_toy_optimized.onnx"));
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, new TrainingGraphOptions { Output = output });
        Assert.Empty(result.ParametersWithoutGradient);
        Assert.Contains(result.Model.Graph.Nodes, n => n.OpType == expectedOp);
        // Opset 12: Softmax's gradient is the coerce-to-2-D SoftmaxGrad, not SoftmaxGrad_13.
        Assert.Contains(result.Model.Graph.Nodes, n => n.OpType == "SoftmaxGrad");
        using var checker = new GradientChecker(result.Model, seed: 8, float64: true);
        RuleGradCheck.AssertWithin(checker.Check(checker.Sample(10)), 1e-5);
    }
}
