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
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(training.Proto, temp.Path);
        string optimized = RuntimeOptimizedGraph.Write(artifacts.TrainingModelPath, BenchLike, Path.Combine(temp.Path, "optimized.onnx"));
        long estimate = RuntimeArenaEstimate.PeakBytes(OnnxModel.Load(optimized), NodeOrderSource.WrittenByRuntime)!.Value;

        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 8, Seed = 5 });
        long measured = StepMemoryProbe.Measure(artifacts, batch, BenchLike).PeakBytes;
        double error = (double)(estimate - measured) / measured;
        output.WriteLine($"estimate {estimate:N0} B, measured {measured:N0} B, {error:P2}");
        Assert.True(measured > 0);
        Assert.True(Math.Abs(error) <= 0.10, $"estimate {estimate:N0} B vs measured {measured:N0} B ({error:P2})");
    }
}
