using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// The fixtures' training graphs (ViT, LLaMA, RoBERTa, exporter form) come from this builder:
/// each trainable set builds, carries ONNX Runtime's fused gradient ops after fusion, and its
/// gradients equal finite differences (float64 copy) on a sample of parameter elements.
/// </summary>
public sealed class FixtureTrainingGraphTests
{
    public static TheoryData<string, string, string?> Cases => new()
    {
        // fixture, trainable set, loss output (null: the first output)
        { "vit-tiny", "full", null },
        { "vit-tiny", "lora", null },
        { "llama-tiny", "lora", null },
        { "llama-tiny", "full", null },
        { "roberta-tiny", "lora-fa", "logits" },
        { "roberta-tiny", "full", "logits" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrainingGraphMatchesFiniteDifferences(string fixture, string trainable, string? output)
    {
        OnnxModel forward = OnnxModel.FromProto(FixtureCatalog.Build(fixture), fixture);
        var options = new TrainingGraphOptions
        {
            Trainable = trainable switch { "lora" => TrainableSet.Lora, "lora-fa" => TrainableSet.LoraFa, _ => TrainableSet.Full },
            LoraRank = 4,
            Output = output,
        };
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, options);
        Assert.Empty(result.ParametersWithoutGradient);
        var ops = result.Model.Graph.Nodes.Select(n => n.OpType).ToHashSet();
        if (fixture == "llama-tiny")
        {
            Assert.Contains("SimplifiedLayerNormalizationGrad", ops);
            Assert.Contains("QuickGeluGrad", ops);
        }
        else
        {
            Assert.Contains("LayerNormalizationGrad", ops);
            Assert.True(ops.Contains("GeluGrad") || ops.Contains("BiasGeluGrad_dX"), "a fused GELU gradient");
        }
        if (trainable == "lora-fa")
        {
            Assert.All(result.Adapters, a => Assert.DoesNotContain(a.A, result.Parameters));
        }

        using var checker = new GradientChecker(result.Model, seed: 21, randomizeZeroParameters: 0.1, float64: true);
        RuleGradCheck.AssertWithin(checker.Check(checker.Sample(12)), 1e-5);
    }

    [Fact]
    public void NoneButHeadTrainsOnlyTheHead()
    {
        OnnxModel forward = OnnxModel.FromProto(FixtureCatalog.Build("roberta-tiny"), "roberta-tiny");
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, new TrainingGraphOptions
        {
            Trainable = TrainableSet.None,
            Output = "last_hidden_state",
            Head = new ClassificationHeadOptions(3, HeadPooling.Mean),
        });
        Assert.Equal(["head.weight", "head.bias"], result.Parameters);
        // Only the head's gradient is built: nothing flows back into the frozen encoder.
        Assert.DoesNotContain(result.Model.Graph.Nodes, n => n.OpType is "LayerNormalizationGrad" or "SoftmaxGrad_13");
        using var checker = new GradientChecker(result.Model, seed: 2, float64: true);
        RuleGradCheck.AssertWithin(checker.Check(checker.Sample(6)), 1e-6);
    }

    [Fact]
    public void OnlyWhatTheTrainableSetNeedsIsBuilt()
    {
        // LoRA on the last block's q and v only: nothing before that block needs a gradient, so
        // its norms, the embedding and the first block get no backward nodes at all.
        OnnxModel forward = OnnxModel.FromProto(FixtureCatalog.Build("llama-tiny"), "llama-tiny");
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, new TrainingGraphOptions
        {
            Trainable = TrainableSet.Lora,
            LoraTargets = @"layers\.1\.attn\.(q|v)_proj",
        });
        Assert.Equal(2, result.Adapters.Count);
        var nodes = result.Model.Graph.Nodes;
        // The final norm and block 1's MLP norm lie between the adapters and the loss; block 1's
        // attention norm and everything in block 0 do not.
        Assert.Equal(2, nodes.Count(n => n.OpType == "SimplifiedLayerNormalizationGrad"));
        Assert.Equal(1, nodes.Count(n => n.OpType == "QuickGeluGrad"));
        Assert.DoesNotContain(nodes, n => n.OpType == "GatherGrad");
        using var checker = new GradientChecker(result.Model, seed: 4, randomizeZeroParameters: 0.1, float64: true);
        RuleGradCheck.AssertWithin(checker.Check(checker.Sample(6)), 1e-5);
    }
}
