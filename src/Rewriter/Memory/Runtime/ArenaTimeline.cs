namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// ONNX Runtime's allocation plan for one run, replayed: the execution <see cref="Order"/>, whose
/// buffer each value lives in (<see cref="Buffers"/>), and the buffers the run takes from the arena
/// (<see cref="Lives"/>). <see cref="InUse"/>[i] is the bytes those buffers add up to while node
/// <see cref="Order"/>[i] runs, as an allocator without rounding or fragmentation would hold them;
/// <see cref="BfcArenaReplay"/> gives what ONNX Runtime's BFC arena reports for the same plan.
/// </summary>
public sealed record ArenaTimeline(IReadOnlyList<RuntimeNode> Order, IReadOnlyDictionary<string, string> Buffers, IReadOnlyList<BufferLife> Lives)
{
    public IReadOnlyList<long> InUse
    {
        get
        {
            var delta = new long[Order.Count + 1];
            foreach (BufferLife life in Lives)
            {
                delta[life.AllocatedAt] += life.Bytes;
                delta[life.ReleasedAfter is { } end ? end + 1 : Order.Count] -= life.Bytes;
            }
            var inUse = new long[Order.Count];
            long held = 0;
            for (int step = 0; step < Order.Count; step++)
            {
                held += delta[step];
                inUse[step] = held;
            }
            return inUse;
        }
    }

    public long PeakBytes => Order.Count == 0 ? 0 : InUse.Max();

    /// <summary>Values that got a buffer of their own from the arena.</summary>
    public IEnumerable<string> AllocatedValues => Lives.Select(l => l.Value);
}
