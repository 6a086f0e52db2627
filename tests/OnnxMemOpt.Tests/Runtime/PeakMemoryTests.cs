using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class PeakMemoryTests
{
    private const int Width = 256;

    [Fact]
    public void MaxInUseCoversTheLiveIntermediatesAndGrowsWithBatch()
    {
        long small = MeasureRun(batch: 16);
        long large = MeasureRun(batch: 256);

        // The intermediate H1 (B·W floats) is allocated from the arena, so the peak holds at least it
        // (Relu may run in place on it, and the graph output may be allocated elsewhere, so no more
        // than one B·W tensor is certain).
        Assert.True(small >= 16L * Width * sizeof(float), $"MaxInUse {small} for batch 16");
        Assert.True(large >= 256L * Width * sizeof(float), $"MaxInUse {large} for batch 256");
        // Growing the batch by 240 rows grows that intermediate by 240 rows.
        Assert.True(large - small >= 240L * Width * sizeof(float), $"MaxInUse grew from {small} to {large}");
    }

    [Fact]
    public void DisabledArenaReportsUnavailable()
    {
        using var options = new SessionOptions { EnableCpuMemArena = false };
        using var session = new InferenceSession(OrtNativeApiTests.ChainModel(Width), options);
        Assert.False(PeakMemory.Read(session).IsAvailable);
    }

    private static long MeasureRun(int batch)
    {
        using var session = OrtRunner.CreateSession(OrtNativeApiTests.ChainModel(Width), registerLibrary: false);
        using var x = OrtValue.CreateTensorValueFromMemory(new float[batch * Width], [batch, Width]);
        using var runOptions = new RunOptions();
        using (session.Run(runOptions, ["X"], [x], ["Y"]))
        {
        }
        ArenaStats stats = PeakMemory.Read(session);
        Assert.True(stats.IsAvailable);
        Assert.True(stats.MaxInUse >= stats.InUse);
        Assert.True(stats.TotalAllocated >= stats.MaxInUse);
        return stats.MaxInUse;
    }
}
