namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// ONNX Runtime's allocation plan for one run, replayed: the execution <see cref="Order"/>, whose
/// buffer each value lives in (<see cref="Buffers"/>), and the buffers the run takes from the arena
/// (<see cref="Lives"/>). <see cref="InUse"/>[i] is the bytes those buffers add up to while node
/// <see cref="Order"/>[i] runs, as an allocator without rounding or fragmentation would hold them;
/// <see cref="BfcArenaReplay"/> gives what ONNX Runtime's BFC arena reports for the same plan.
/// </summary>
/// <param name="Order">The execution order.</param>
/// <param name="Buffers">
/// For each value the run allocates or shares, the value whose buffer it lives in (itself when it got
/// its own); graph outputs are not listed.
/// </param>
/// <param name="Lives">The buffers taken from the arena, in allocation order.</param>
public sealed record ArenaTimeline(IReadOnlyList<RuntimeNode> Order, IReadOnlyDictionary<string, string> Buffers, IReadOnlyList<BufferLife> Lives)
{
    /// <summary>
    /// Bytes of the arena buffers (<see cref="Lives"/>) held while each node of <see cref="Order"/>
    /// runs; computed on each read.
    /// </summary>
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

    /// <summary>
    /// The largest <see cref="InUse"/> entry (0 for an empty graph): the exact-fit peak, a lower bound
    /// of the BFC arena's MaxInUse.
    /// </summary>
    public long PeakBytes => Order.Count == 0 ? 0 : InUse.Max();

    /// <summary>Values that got a buffer of their own from the arena.</summary>
    public IEnumerable<string> AllocatedValues => Lives.Select(l => l.Value);
}
