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
        Assert.True(small.PeakBytes > 0);
        // Backward through the ReLU keeps its output and the gradient w.r.t. it alive together:
        // two [B, 500] float tensors, so 62 more rows add at least 2 · 62 · 500 floats.
        long growth = large.PeakBytes - small.PeakBytes;
        Assert.True(growth >= 2L * 62 * 500 * sizeof(float), $"peak {small.PeakBytes} → {large.PeakBytes}");
        Assert.True(large.Arena.MaxInUse >= large.Arena.InUse);
    }

    private static StepMemory Measure(TrainingArtifacts artifacts, long batchSize)
    {
        using TrainingBatch batch = ArtifactData.Synthetic(artifacts, batchSize, seed: 4, ArtifactData.MlpDims);
        return StepMemoryProbe.Measure(artifacts, batch, ArtifactData.Options());
    }
}
