using System.Globalization;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>
/// Statistics of an ONNX Runtime arena allocator (keys of <c>AllocatorGetStats</c>). Byte figures are
/// cumulative over the session's life: MaxInUse is the high-water mark since the session was created.
/// </summary>
public sealed record ArenaStats(IReadOnlyDictionary<string, string> Raw)
{
    /// <summary>Peak bytes in use: the figure the project reports as measured peak memory.</summary>
    public long MaxInUse => Get("MaxInUse");

    /// <summary>Bytes held by live allocations when the statistics were read, unlike the high-water mark <see cref="MaxInUse"/>.</summary>
    public long InUse => Get("InUse");

    /// <summary>Bytes the arena has reserved from the system in its regions: its footprint, at least <see cref="MaxInUse"/>.</summary>
    public long TotalAllocated => Get("TotalAllocated");

    /// <summary>The most bytes the arena may reserve (its configured memory limit).</summary>
    public long Limit => Get("Limit");

    /// <summary>Allocations the arena has served.</summary>
    public long NumAllocs => Get("NumAllocs");

    /// <summary>Allocations made through the arena's Reserve path, which takes memory from the system directly instead of from the arena's bins.</summary>
    public long NumReserves => Get("NumReserves");

    /// <summary>Times the arena grew by a new region because no free chunk fitted.</summary>
    public long NumArenaExtensions => Get("NumArenaExtensions");

    /// <summary>Times the arena released unused regions back to the system.</summary>
    public long NumArenaShrinkages => Get("NumArenaShrinkages");

    /// <summary>The largest single allocation requested, in bytes.</summary>
    public long MaxAllocSize => Get("MaxAllocSize");

    /// <summary>False when the allocator keeps no statistics (no arena: EnableCpuMemArena = false).</summary>
    public bool IsAvailable => Raw.ContainsKey("MaxInUse");

    private long Get(string key) =>
        Raw.TryGetValue(key, out string? text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) ? value : 0;
}
