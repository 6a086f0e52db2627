namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// Replays a run's allocations through a model of ONNX Runtime's CPU arena (BFCArena with its
/// defaults: ArenaExtendStrategy kNextPowerOfTwo, first region 1 MiB, max_dead_bytes_per_chunk
/// 128 MiB) and returns its MaxInUse. What makes it differ from the sum of the live tensors:
/// - every request is rounded up to a multiple of 256 bytes;
/// - a request takes the smallest free chunk that fits (best fit; ties by address), and the chunk is
///   split only when it is at least twice the rounded request (or the excess reaches
///   max_dead_bytes_per_chunk); otherwise the whole chunk is handed out and counted as in use;
/// - freed chunks merge with free neighbours of the same region; regions are never merged and
///   stay allocated between runs, so the second run starts from the first run's free chunks.
/// Region addresses are not known; later regions are placed after earlier ones, which only
/// decides ties between free chunks of equal size.
/// </summary>
public sealed class BfcArenaReplay
{
    private const long MinAllocation = 256;
    private const long FirstRegionBytes = 1L << 20;
    private const long MaxDeadBytesPerChunk = 128L << 20;
    private const long RegionSpacing = 1L << 44;

    private readonly SortedSet<(long Size, long Ptr)> _free = new();
    private readonly Dictionary<long, Chunk> _chunks = new();
    private long _nextRegionBytes = FirstRegionBytes;
    private int _regions;

    /// <summary>Bytes of the chunks handed out and not yet freed, with their rounding and unsplit excess.</summary>
    public long InUse { get; private set; }

    /// <summary>Highest <see cref="InUse"/> so far: the arena statistic ONNX Runtime reports as MaxInUse.</summary>
    public long MaxInUse { get; private set; }

    /// <summary>MaxInUse over <paramref name="runs"/> identical runs of <paramref name="timeline"/> on one arena.</summary>
    public static long MaxInUseOf(ArenaTimeline timeline, int runs = 2) => Replay(timeline, runs).MaxInUse;

    /// <summary>
    /// Replays <paramref name="runs"/> identical runs of <paramref name="timeline"/> on one arena: the
    /// MaxInUse over all of them, and for each step of the run that reached it the bytes in use while
    /// it runs (so the curve's highest point is the MaxInUse reported beside it).
    /// </summary>
    public static ArenaReplay Replay(ArenaTimeline timeline, int runs = 2)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        var arena = new BfcArenaReplay();
        long[] peakRunBytes = new long[timeline.Order.Count];
        var byStart = timeline.Lives.ToLookup(l => l.AllocatedAt);
        var byEnd = timeline.Lives.Where(l => l.ReleasedAfter.HasValue).ToLookup(l => l.ReleasedAfter!.Value);
        for (int run = 0; run < runs; run++)
        {
            long maxBefore = arena.MaxInUse;
            var stepBytes = new long[timeline.Order.Count];
            var held = new Dictionary<BufferLife, long>(ReferenceEqualityComparer.Instance);
            for (int step = 0; step < timeline.Order.Count; step++)
            {
                foreach (BufferLife life in byStart[step]) held[life] = arena.Allocate(life.Bytes);
                stepBytes[step] = arena.InUse;
                foreach (BufferLife life in byEnd[step]) arena.Free(held.Remove(life, out long p) ? p : throw new InvalidOperationException("released twice"));
            }
            foreach (long ptr in held.Values) arena.Free(ptr);
            if (run == 0 || arena.MaxInUse > maxBefore) peakRunBytes = stepBytes;
        }
        return new ArenaReplay(arena.MaxInUse, peakRunBytes, timeline);
    }

    /// <summary>Allocates <paramref name="bytes"/> and returns the chunk's address (-1 for zero bytes, as the arena returns null).</summary>
    public long Allocate(long bytes)
    {
        if (bytes <= 0) return -1;
        long rounded = (bytes + MinAllocation - 1) / MinAllocation * MinAllocation;
        if (!TryTake(rounded, out Chunk? chunk))
        {
            Extend(rounded);
            if (!TryTake(rounded, out chunk)) throw new InvalidOperationException("no chunk after extending the arena");
        }
        InUse += chunk!.Size;
        MaxInUse = Math.Max(MaxInUse, InUse);
        return chunk.Ptr;
    }

    /// <summary>
    /// Returns the chunk at <paramref name="ptr"/> (from <see cref="Allocate"/>) and merges it with
    /// free neighbours; -1 is ignored.
    /// </summary>
    public void Free(long ptr)
    {
        if (ptr < 0) return;
        Chunk chunk = _chunks[ptr];
        chunk.InUse = false;
        InUse -= chunk.Size;
        if (chunk.Next is { InUse: false } next)
        {
            _free.Remove((next.Size, next.Ptr));
            Merge(chunk, next);
        }
        if (chunk.Prev is { InUse: false } prev)
        {
            _free.Remove((prev.Size, prev.Ptr));
            Merge(prev, chunk);
            chunk = prev;
        }
        _free.Add((chunk.Size, chunk.Ptr));
    }

    private bool TryTake(long rounded, out Chunk? chunk)
    {
        chunk = null;
        foreach ((long size, long ptr) in _free.GetViewBetween((rounded, long.MinValue), (long.MaxValue, long.MaxValue)))
        {
            chunk = _chunks[ptr];
            break;
        }
        if (chunk is null) return false;
        _free.Remove((chunk.Size, chunk.Ptr));
        if (chunk.Size >= rounded * 2 || chunk.Size - rounded >= MaxDeadBytesPerChunk)
        {
            var rest = new Chunk(chunk.Ptr + rounded, chunk.Size - rounded) { Prev = chunk, Next = chunk.Next };
            if (chunk.Next is not null) chunk.Next.Prev = rest;
            chunk.Next = rest;
            chunk.Size = rounded;
            _chunks[rest.Ptr] = rest;
            _free.Add((rest.Size, rest.Ptr));
        }
        chunk.InUse = true;
        return true;
    }

    /// <summary>BFCArena::Extend with kNextPowerOfTwo: the region doubles until it fits, and doubles again after a fitting one.</summary>
    private void Extend(long rounded)
    {
        bool increased = false;
        while (rounded > _nextRegionBytes)
        {
            _nextRegionBytes *= 2;
            increased = true;
        }
        long bytes = _nextRegionBytes;
        if (!increased) _nextRegionBytes *= 2;
        var region = new Chunk(++_regions * RegionSpacing, bytes);
        _chunks[region.Ptr] = region;
        _free.Add((region.Size, region.Ptr));
    }

    private void Merge(Chunk first, Chunk second)
    {
        first.Size += second.Size;
        first.Next = second.Next;
        if (second.Next is not null) second.Next.Prev = first;
        _chunks.Remove(second.Ptr);
    }

    private sealed class Chunk(long ptr, long size)
    {
        public long Ptr { get; } = ptr;

        public long Size { get; set; } = size;

        public bool InUse { get; set; }

        public Chunk? Prev { get; set; }

        public Chunk? Next { get; set; }
    }
}
