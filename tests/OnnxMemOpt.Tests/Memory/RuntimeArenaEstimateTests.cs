using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Memory;

/// <summary>
/// The model of the runtime against the runtime: a small generated ViT training graph (and its
/// rewrite) runs two steps on ONNX Runtime as the bench runs it (memory pattern and pre-packing off,
/// graph inputs and outputs bound), and the estimate from the graph the runtime writes after its
/// optimisations must land within 10 % of the arena's measured MaxInUse. Bytes, not time: the
/// figures are deterministic.
/// </summary>
public class RuntimeArenaEstimateTests(ITestOutputHelper output)
{
    private static readonly TrainerOptions BenchLike = new()
    {
        EnableMemoryPattern = false,
        SessionConfig = new Dictionary<string, string> { ["session.disable_prepacking"] = "1" },
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EstimateFromTheRuntimesGraphIsWithinTenPercentOfTheMeasuredArenaPeak(bool rewritten)
    {
        OnnxModel training = TrainingGraphBuilder.Build(OnnxModel.FromProto(VitModel.Build(FixtureCatalog.VitTiny with { Batch = 8 })), new TrainingGraphOptions
        {
            Trainable = TrainableSet.Lora,
            LoraTargets = @"attn\.(q|v)\.",
        });
        if (rewritten)
        {
            Assert.True(MemoryPasses.Run(training, MemoryPasses.All).Changed);
        }
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(training, temp.Path);
        string optimized = RuntimeOptimizedGraph.Write(artifacts.TrainingModelPath, BenchLike, Path.Combine(temp.Path, "optimized.onnx"));
        long estimate = RuntimeArenaEstimate.PeakBytes(OnnxModel.Load(optimized), NodeOrderSource.WrittenByRuntime)!.Value;

        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 8, Seed = 5 });
        long measured = StepMemoryProbe.Measure(artifacts, batch, BenchLike).PeakBytes;
        double error = (double)(estimate - measured) / measured;
        output.WriteLine($"estimate {estimate:N0} B, measured {measured:N0} B, {error:P2}");
        Assert.True(measured > 0);
        Assert.True(Math.Abs(error) <= 0.10, $"estimate {estimate:N0} B vs measured {measured:N0} B ({error:P2})");
    }

    /// <summary>inspect and rewrite report the same model of the runtime (`--runtime-peak`), checked against the runtime's measured peak.</summary>
    [Fact]
    public void InspectAndRewriteReportTheRuntimeArenaPeak()
    {
        OnnxModel training = TrainingGraphBuilder.Build(OnnxModel.FromProto(VitModel.Build(FixtureCatalog.VitTiny with { Batch = 8 })), new TrainingGraphOptions
        {
            Trainable = TrainableSet.Lora,
            LoraTargets = @"attn\.(q|v)\.",
        });
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(training, temp.Path);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 8, Seed = 5 });
        long measured = StepMemoryProbe.Measure(artifacts, batch, BenchLike).PeakBytes;

        CliRunner.Result inspect = CliRunner.Run("inspect", artifacts.TrainingModelPath, "--runtime-peak", "--json");
        Assert.Equal(0, inspect.ExitCode);
        long inspected = System.Text.Json.Nodes.JsonNode.Parse(inspect.Stdout)!["memory"]!["runtime_arena_peak_bytes"]!.GetValue<long>();
        CliRunner.Result rewrite = CliRunner.Run("rewrite", artifacts.TrainingModelPath, "-o", temp.File("rewritten.onnx"), "--runtime-peak", "--json");
        Assert.Equal(0, rewrite.ExitCode);
        var report = System.Text.Json.Nodes.JsonNode.Parse(rewrite.Stdout)!;
        long before = report["memory_before"]!["runtime_arena_peak_bytes"]!.GetValue<long>();
        long after = report["memory_after"]!["runtime_arena_peak_bytes"]!.GetValue<long>();
        output.WriteLine($"measured {measured:N0} B, inspect {inspected:N0} B, rewrite before {before:N0} B, after {after:N0} B");
        Assert.Equal(inspected, before);
        Assert.True(Math.Abs((double)(inspected - measured) / measured) <= 0.10, $"inspect {inspected:N0} B vs measured {measured:N0} B");
        Assert.True(after < before, "the rewrite lowers the runtime arena peak");
    }
}
