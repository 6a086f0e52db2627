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

    public long InUse => Get("InUse");

    public long TotalAllocated => Get("TotalAllocated");

    public long Limit => Get("Limit");

    public long NumAllocs => Get("NumAllocs");

    public long NumReserves => Get("NumReserves");

    public long NumArenaExtensions => Get("NumArenaExtensions");

    public long NumArenaShrinkages => Get("NumArenaShrinkages");

    public long MaxAllocSize => Get("MaxAllocSize");

    /// <summary>False when the allocator keeps no statistics (no arena: EnableCpuMemArena = false).</summary>
    public bool IsAvailable => Raw.ContainsKey("MaxInUse");

    private long Get(string key) =>
        Raw.TryGetValue(key, out string? text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) ? value : 0;
}
