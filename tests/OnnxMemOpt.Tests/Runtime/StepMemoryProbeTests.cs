using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class StepMemoryProbeTests
{
    [SkippableFact]
    public void MlpStepPeakIsPlausibleAndGrowsWithBatchSize()
    {
        TrainingArtifacts artifacts = ArtifactData.Mlp();
        StepMemory small = Measure(artifacts, 2);
        StepMemory large = Measure(artifacts, 64);

        // Weights, gradients and two moments: 4 × 397,510 floats, held outside the arena.
        Assert.Equal(4L * 397_510 * sizeof(float), small.ParameterBytes);
        // The graph forms fc1.weight's gradient ([500, 784] floats) in the arena before
        // InPlaceAccumulatorV2 adds it into the (external) buffer, so the peak holds at least that.
        Assert.True(small.PeakBytes >= 500L * 784 * sizeof(float), $"peak {small.PeakBytes}");
        // While it is formed, its other operand, the [B, 500] gradient at fc1's output, is live, so
        // the peak grows by at least that tensor's growth (the arena rounds sizes up to 256 bytes).
        long growth = large.PeakBytes - small.PeakBytes;
        long tensorGrowth = ArenaSize(64L * 500 * sizeof(float)) - ArenaSize(2L * 500 * sizeof(float));
        Assert.True(growth >= tensorGrowth, $"peak {small.PeakBytes} → {large.PeakBytes}");
        Assert.True(large.Arena.MaxInUse >= large.Arena.InUse);
    }

    private static long ArenaSize(long bytes) => (bytes + 255) / 256 * 256;

    private static StepMemory Measure(TrainingArtifacts artifacts, long batchSize)
    {
        using TrainingBatch batch = ArtifactData.Synthetic(artifacts, batchSize, seed: 4, ArtifactData.MlpDims);
        return StepMemoryProbe.Measure(artifacts, batch, ArtifactData.Options());
    }
}
