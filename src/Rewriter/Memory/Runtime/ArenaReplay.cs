namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// What the BFC arena model reports for a step: <see cref="MaxInUse"/> (the figure compared with the
/// runtime's MaxInUse) and, per node of the execution order, the bytes in use while it runs.
/// <see cref="PeakNode"/> and <see cref="LiveAtPeak"/> say where the peak is and what holds it, which
/// is what a user needs to see whether the rest of a peak is within reach of a rewrite.
/// </summary>
/// <param name="MaxInUse">The arena's MaxInUse over all replayed runs.</param>
/// <param name="StepBytes">
/// Bytes in use while each node of the timeline's order runs, in the run that reached the maximum.
/// </param>
/// <param name="Timeline">The allocation plan that was replayed.</param>
public sealed record ArenaReplay(long MaxInUse, IReadOnlyList<long> StepBytes, ArenaTimeline Timeline)
{
    /// <summary>Position in the execution order of the node during which the arena holds the most.</summary>
    public int PeakStep
    {
        get
        {
            int best = 0;
            for (int step = 1; step < StepBytes.Count; step++) if (StepBytes[step] > StepBytes[best]) best = step;
            return best;
        }
    }

    /// <summary>The node running at <see cref="PeakStep"/>, or null for an empty graph.</summary>
    public RuntimeNode? PeakNode => Timeline.Order.Count == 0 ? null : Timeline.Order[PeakStep];

    /// <summary>The <paramref name="count"/> largest buffers held while <see cref="PeakNode"/> runs (requested bytes).</summary>
    public IReadOnlyList<BufferLife> LiveAtPeak(int count)
    {
        int step = PeakStep;
        return Timeline.Lives
            .Where(l => l.AllocatedAt <= step && (l.ReleasedAfter ?? int.MaxValue) >= step)
            .OrderByDescending(l => l.Bytes).ThenBy(l => l.Value, StringComparer.Ordinal)
            .Take(count).ToList();
    }
}
