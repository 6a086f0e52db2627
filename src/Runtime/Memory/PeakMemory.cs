using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>
/// Reads the CPU arena statistics of a session. The session must use the CPU arena
/// (SessionOptions.EnableCpuMemArena = true, ONNX Runtime's default); without it the allocator keeps
/// no statistics and <see cref="ArenaStats.IsAvailable"/> is false.
/// </summary>
public static class PeakMemory
{
    /// <summary>Statistics of <paramref name="session"/>'s CPU arena allocator.</summary>
    public static ArenaStats Read(InferenceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var memoryInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
        using var allocator = new OrtAllocator(session, memoryInfo);
        return Read(allocator);
    }

    /// <summary>Statistics of any allocator (empty for allocators that keep none).</summary>
    public static ArenaStats Read(OrtAllocator allocator)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        bool added = false;
        allocator.DangerousAddRef(ref added);
        try
        {
            return new ArenaStats(OrtNativeApi.AllocatorStats(allocator.DangerousGetHandle()));
        }
        finally
        {
            if (added)
            {
                allocator.DangerousRelease();
            }
        }
    }
}
