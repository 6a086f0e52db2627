using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
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

    [Fact]
    public void WithOnnxRuntimeAFusionItRefusesIsSkippedAndTheOtherKept()
    {
        // Two RMSNorm chains, each feeding a MatMul with an [8, 4] weight: one over x1 [2, 8]; one
        // over x2 [2, 1] times an [8] scale, which broadcasts to [2, 8]. Fused, the second would keep
        // its input's shape [2, 1] and ONNX Runtime refuses the MatMul after it at load. (The fuzzer
        // found this form on a clone without ../shared.)
        const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;
        var model = new TinyModel().Opset("", 17)
            .Input("x1", F, 2, 8).Input("x2", F, 2, 1).Output("z1", F, 2, 4).Output("z2", F, 2, 4)
            .Initializer(TinyModel.FloatTensor("two", [], [2f])).Initializer(TinyModel.FloatTensor("eps", [], [1e-6f]))
            .Initializer(TinyModel.FloatTensor("g", [8], [.. Enumerable.Range(1, 8).Select(i => i / 4f)]))
            .Initializer(TinyModel.FloatTensor("w", [8, 4], [.. Enumerable.Repeat(0.5f, 32)]));
        foreach (string i in new[] { "1", "2" })
        {
            model.Node("Pow", ["x" + i, "two"], ["sq" + i]).Node("ReduceMean", ["sq" + i], ["ms" + i], "", TinyModel.Attr("axes", new long[] { -1 }))
                .Node("Add", ["ms" + i, "eps"], ["v" + i]).Node("Sqrt", ["v" + i], ["r" + i]).Node("Div", ["x" + i, "r" + i], ["n" + i])
                .Node("Mul", ["n" + i, "g"], ["y" + i]).Node("MatMul", ["y" + i, "w"], ["z" + i]);
        }
        OnnxModel onnx = OnnxModel.FromProto(model.Build(), "two-norms.onnx");
        Assert.Null(RuntimeLoadCheck.Refusal(onnx));

        PassResult result = CheckedPasses.Run(onnx, [FusionPass.Name], null, null, RuntimeLoadCheck.Refusal);

        Assert.Null(RuntimeLoadCheck.Refusal(onnx));
        RewriteRecord fused = Assert.Single(result.Rewrites);
        Assert.Equal("rms-norm", fused.Rule);
        Assert.DoesNotContain(onnx.Graph.Nodes, n => n.OpType == "Sqrt" && n.Outputs[0] == "r1");
        Assert.Contains(onnx.Graph.Nodes, n => n.OpType == "Sqrt" && n.Outputs[0] == "r2"); // the refused chain stays as written
        SkipRecord skipped = Assert.Single(result.Skipped, s => s.Rule == "rms-norm");
        Assert.Equal(onnx.Graph.Nodes.Single(n => n.OpType == "Mul" && n.Outputs[0] == "y2").Label, skipped.Node);
    }
}
