using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Models;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// all-MiniLM-L6-v2 (a real pretrained encoder) with a 2-class head on the first token and LoRA
/// rank 8 on query and value: the training graph must load on stock ONNX Runtime with the
/// library, and its gradients must equal finite differences of its loss.
/// </summary>
public sealed class MiniLmTrainingGraphTests(ITestOutputHelper output)
{
    private static readonly TrainingGraphOptions Options = new()
    {
        Loss = LossKind.CrossEntropy,
        Trainable = TrainableSet.Lora,
        LoraRank = 8,
        LoraAlpha = 16,
        LoraTargets = "query|value",
        Output = "last_hidden_state",
        Head = new ClassificationHeadOptions(2),
    };

    [Fact]
    public void LoraOnQueryAndValueWithHeadMatchesFiniteDifferences()
    {
        using var temp = new TempDirectory();
        OnnxModel forward = OnnxModel.Load(MiniLmModel.ExtractTo(temp.File("minilm")));
        TrainingGraphResult graph = TrainingGraphBuilder.BuildWithReport(forward, Options);

        // 6 layers × (query, value), each with A and B, plus the head's weight and bias.
        Assert.Equal(12, graph.Adapters.Count);
        Assert.Equal(12 * 2 + 2, graph.Parameters.Count);
        Assert.Empty(graph.ParametersWithoutGradient);
        // Fusion ran first: the erf-GELU and LayerNorm chains have ONNX Runtime's fused gradients.
        // (bias + erf-GELU fuses to BiasGelu, whose gradient is BiasGeluGrad_dX).
        Assert.Equal(6, graph.Model.Graph.Nodes.Count(n => n.OpType is "GeluGrad" or "BiasGeluGrad_dX"));
        Assert.Contains(graph.Model.Graph.Nodes, n => n.OpType == "LayerNormalizationGrad");
        Assert.Contains(graph.Model.Graph.Nodes, n => n.OpType == "SoftmaxGrad_13");
        Assert.Contains(graph.Model.Graph.Nodes, n => n.OpType == "GatherGrad");
        Assert.Contains(graph.Model.Graph.Nodes, n => n.OpType == "SoftmaxCrossEntropyLossInternalGrad");

        // B starts at zero, which makes every A gradient exactly zero: draw B at random so that
        // both factors are checked with non-trivial values. The check runs on a float64 copy:
        // float32 rounding through six layers would drown 1e-3 agreement in noise.
        using var checker = new GradientChecker(graph.Model, seed: 11, randomizeZeroParameters: 0.2, float64: true);
        var lora = checker.Sample(5, p => p.Contains(".lora_", StringComparison.Ordinal));
        var head = checker.Sample(3, p => p.StartsWith("head.", StringComparison.Ordinal));
        GradientCheckResult result = checker.Check([.. lora, .. head]);
        foreach (GradientSample s in result.Samples)
        {
            output.WriteLine($"{s.Parameter}[{s.Index}]: graph {s.Analytic:E6}, finite differences {s.Numeric:E6}, rel err {s.RelErr:E2}");
        }
        RuleGradCheck.AssertWithin(result, 1e-3);
        Assert.Contains(result.Samples, s => Math.Abs(s.Analytic) > 1e-6);
    }

    [Fact]
    public void BuildIsDeterministic()
    {
        using var temp = new TempDirectory();
        OnnxModel forward = OnnxModel.Load(MiniLmModel.ExtractTo(temp.File("minilm")));
        byte[] first = TrainingGraphBuilder.Build(forward, Options).ToBytes();
        byte[] second = TrainingGraphBuilder.Build(forward, Options).ToBytes();
        Assert.Equal(first, second);
    }
}
