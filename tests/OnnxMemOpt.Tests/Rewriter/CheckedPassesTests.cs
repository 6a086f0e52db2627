using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// The validation step of the passes: a rewrite the runtime would refuse is dropped, with the
/// runtime's reason, and every other candidate is still rewritten. The runtime here is a stand-in
/// that refuses chosen rewrites, so that the search is checked on exactly known culprits; the
/// last test runs ONNX Runtime itself.
/// </summary>
public class CheckedPassesTests
{
    /// <summary>A LoRA training graph of the ViT fixture: two GELUs (regelu2 candidates) and several norms.</summary>
    private static OnnxModel Training() =>
        TrainingGraphBuilder.Build(OnnxModel.FromProto(ExternalDataModels.Fixture("vit-tiny", "batch")), new TrainingGraphOptions { Trainable = TrainableSet.Lora });

    /// <summary>What each GELU of the graph produces (fused with its bias: BiasGelu); ReGelu2 produces the same value.</summary>
    private static List<string> GeluOutputs(OnnxModel model) =>
        [.. model.Graph.Nodes.Where(n => n.OpType is "Gelu" or "BiasGelu").Select(n => n.Outputs[0])];

    /// <summary>Refuses any model in which a ReGelu2 produces one of <paramref name="victims"/> (as ONNX Runtime might refuse its shape).</summary>
    private static LoadRefusal RefusingReGelu2On(IReadOnlyCollection<string> victims) => model =>
        model.Graph.Nodes.FirstOrDefault(n => n.OpType == "ReGelu2" && victims.Contains(n.Outputs[0])) is { } node
            ? $"stand-in: ReGelu2 producing '{node.Outputs[0]}' has no valid shape"
            : null;

    [Fact]
    public void OnlyTheCandidateTheRuntimeRefusesIsSkipped()
    {
        OnnxModel model = Training();
        List<string> gelus = GeluOutputs(model);
        Assert.True(gelus.Count >= 2, "the fixture should have two GELUs");
        LoadRefusal refusal = RefusingReGelu2On([gelus[0]]);

        PassResult result = CheckedPasses.Run(model, MemoryPasses.All, DimBindings.None, new RewriteOptions(), refusal);

        Assert.Null(refusal(model));
        Assert.Equal(gelus.Count - 1, result.Rewrites.Count(r => r.Pass == "regelu2"));
        SkipRecord skipped = Assert.Single(result.Skipped, s => s.Reason.StartsWith("ONNX Runtime refuses", StringComparison.Ordinal));
        Assert.Equal("regelu2", skipped.Pass);
        Assert.Contains($"stand-in: ReGelu2 producing '{gelus[0]}'", skipped.Reason, StringComparison.Ordinal);
        // The other passes still did their work.
        Assert.Contains(result.Rewrites, r => r.Pass == "msln");
        Assert.Contains(model.Graph.Nodes, n => n.OpType == "BiasGelu" && n.Outputs[0] == gelus[0]);
    }

    [Fact]
    public void EveryRefusedCandidateIsFoundAndTheRestKept()
    {
        OnnxModel model = Training();
        List<string> gelus = GeluOutputs(model);
        LoadRefusal refusal = RefusingReGelu2On(gelus);

        PassResult result = CheckedPasses.Run(model, ["fuse", "regelu2", "msln"], DimBindings.None, null, refusal);

        Assert.Null(refusal(model));
        Assert.DoesNotContain(result.Rewrites, r => r.Pass == "regelu2");
        Assert.Equal(gelus.Count, result.Skipped.Count(s => s.Pass == "regelu2" && s.Reason.StartsWith("ONNX Runtime refuses", StringComparison.Ordinal)));
        Assert.Contains(result.Rewrites, r => r.Pass == "msln");
    }

    [Fact]
    public void WhenTheInputDoesNotLoadEitherThePassesRunUnchecked()
    {
        OnnxModel model = Training();
        PassResult unchecked_ = MemoryPasses.Run(Training(), MemoryPasses.All);

        PassResult result = CheckedPasses.Run(model, MemoryPasses.All, null, null, _ => "stand-in: refuses everything");

        Assert.Equal(unchecked_.Rewrites.Select(r => (r.Pass, r.Node)), result.Rewrites.Select(r => (r.Pass, r.Node)));
    }

    [Fact]
    public void WithOnnxRuntimeEveryRewriteOfTheFixtureLoads()
    {
        OnnxModel model = Training();
        Assert.Null(RuntimeLoadCheck.Refusal(model));

        PassResult result = CheckedPasses.Run(model, MemoryPasses.All, null, null, RuntimeLoadCheck.Refusal);

        Assert.Null(RuntimeLoadCheck.Refusal(model));
        Assert.Contains(result.Rewrites, r => r.Pass == "regelu2");
        Assert.DoesNotContain(result.Skipped, s => s.Reason.StartsWith("ONNX Runtime refuses", StringComparison.Ordinal));
    }
}
