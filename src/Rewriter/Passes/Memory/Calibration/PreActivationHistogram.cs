namespace OnnxMemOpt.Passes.Memory.Calibration;

/// <summary>
/// How one activation's inputs are distributed, counted on a fixed grid: bins of width 1/64 over
/// [−16, 16], and one open bin at either end for everything beyond. Past ±16 every derivative the
/// tables approximate is 0 or 1 to within 1e-6 (GELU′ within 1e-50, SiLU′ within 2e-6), so nothing
/// is lost by lumping the tails; inside, the derivative changes by at most 0.013 across a bin (GELU′′ peaks at 0.8).
/// NaN inputs (code 0 in the kernels) are left out.
/// </summary>
public sealed class PreActivationHistogram
{
    /// <summary>Half-width of the grid: bins cover [−16, 16], beyond which the tails are open bins.</summary>
    public const double Limit = 16.0;
    /// <summary>Grid bins per unit of x (bin width 1/64); thresholds are fitted on these edges.</summary>
    public const int BinsPerUnit = 64;

    /// <summary>Counts: [0] below −16, [1..N] the grid, [N+1] above 16.</summary>
    private readonly long[] _counts = new long[GridBins + 2];

    /// <summary>Bins of the grid between −16 and 16, without the open tails (2048).</summary>
    public static int GridBins => (int)(2 * Limit * BinsPerUnit);

    /// <summary>Bins including the two open tails.</summary>
    public static int BinCount => GridBins + 2;

    /// <summary>Inputs counted so far, NaN left out.</summary>
    public long Total { get; private set; }

    /// <summary>
    /// Counts per bin: [0] at or below −16, [1..<see cref="GridBins"/>] the grid,
    /// [<see cref="GridBins"/> + 1] above 16.
    /// </summary>
    public IReadOnlyList<long> Counts => _counts;

    /// <summary>Counts <paramref name="values"/> (one batch of the activation's input), skipping NaN.</summary>
    public void Add(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
        {
            if (float.IsNaN(v)) continue;
            _counts[BinOf(v)]++;
            Total++;
        }
    }

    /// <summary>
    /// Adds the counts of <paramref name="other"/>, e.g. the same activation seen in another batch or
    /// run.
    /// </summary>
    public void Add(PreActivationHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
        Total += other.Total;
    }

    /// <summary>
    /// The bin of x. The kernels' code is [x &gt; c], so bin b holds (lower edge, upper edge]: a
    /// threshold placed on an edge then splits the samples exactly as the kernels will.
    /// </summary>
    public static int BinOf(double x)
    {
        if (x <= -Limit) return 0;
        if (x > Limit) return GridBins + 1;
        int b = (int)Math.Ceiling((x + Limit) * BinsPerUnit);  // 1..GridBins
        return Math.Clamp(b, 1, GridBins);
    }

    /// <summary>The edge between bin b−1 and bin b (b = 1..BinCount−1): −16 + (b−1)/64.</summary>
    public static double LowerEdge(int bin) => -Limit + (double)(bin - 1) / BinsPerUnit;

    /// <summary>Where a bin's derivative is read: its centre, or for the open tails a point well inside them.</summary>
    public static double Representative(int bin) => bin == 0 ? -2 * Limit : bin == GridBins + 1 ? 2 * Limit : LowerEdge(bin) + 0.5 / BinsPerUnit;
}
