namespace OnnxMemOpt.Passes.Memory.Calibration;

/// <summary>How well a step table follows a derivative under one input distribution.</summary>
/// <param name="MeanSquaredError">E[(h′(x) − level[code(x)])²] over the distribution.</param>
/// <param name="Cosine">
/// E[h′·q] / √(E[h′²]·E[q²]) with q = level[code(x)]: the expected cosine of dX against the exact
/// one for a dY independent of x (dX = dY·h′ exactly, dY·q with the table).
/// </param>
public sealed record StepTableQuality(double MeanSquaredError, double Cosine);

/// <summary>
/// Fits a 2-bit step derivative to one layer's own input distribution: three thresholds and four
/// levels minimising the expected squared error E[(h′(x) − level[code(x)])²] under the counted
/// distribution (<see cref="PreActivationHistogram"/>). Same code, same memory as the published
/// tables; only the numbers change.
///
/// This is Lloyd-Max quantisation of h′ with the intervals constrained to be contiguous in x (the
/// kernels' code counts thresholds below x): each level is the mean of h′ over its interval (the
/// centroid condition), and the thresholds are chosen by dynamic programming over the histogram's
/// bin edges, which finds the global optimum on that grid. Lloyd-Max's alternating iteration would
/// only find a local one: GELU′ and SiLU′ are not monotone (they dip below 0 left of the origin and
/// overshoot 1 right of it), so an interval may pay off in more than one place.
///
/// With the levels at the interval means, E[h′·q] = E[q²], so the expected dX cosine above is
/// √(E[q²]/E[h′²]) = √(1 − MSE/E[h′²]): minimising the error maximises that cosine too.
/// </summary>
public static class StepTableFit
{
    private const int Intervals = 4;

    /// <summary>
    /// The table of least expected squared error to <paramref name="derivative"/> under
    /// <paramref name="histogram"/>, thresholds on bin edges; throws <see cref="ArgumentException"/>
    /// for an empty histogram.
    /// </summary>
    public static TwoBitStepTable Fit(PreActivationHistogram histogram, Func<double, double> derivative)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        ArgumentNullException.ThrowIfNull(derivative);
        if (histogram.Total == 0) throw new ArgumentException("the histogram is empty: no input was counted", nameof(histogram));
        int bins = PreActivationHistogram.BinCount;
        var sums = new IntervalSums(histogram, derivative);

        // best[k, j]: least error of k + 1 intervals covering bins 0..j; start[k, j]: first bin of the last of them.
        var best = new double[Intervals, bins];
        var start = new int[Intervals, bins];
        for (int j = 0; j < bins; j++) best[0, j] = sums.Error(0, j);
        for (int k = 1; k < Intervals; k++)
        {
            for (int j = 0; j < bins; j++)
            {
                best[k, j] = double.PositiveInfinity;
                // Every interval holds at least one bin, so the thresholds come out strictly increasing.
                for (int i = k; i <= j; i++)
                {
                    double error = best[k - 1, i - 1] + sums.Error(i, j);
                    if (error < best[k, j])
                    {
                        best[k, j] = error;
                        start[k, j] = i;
                    }
                }
            }
        }

        var firstBins = new int[Intervals];
        int last = bins - 1;
        for (int k = Intervals - 1; k >= 1; k--)
        {
            firstBins[k] = start[k, last];
            last = firstBins[k] - 1;
        }
        var thresholds = new double[Intervals - 1];
        var levels = new double[Intervals];
        for (int k = 0; k < Intervals; k++)
        {
            int from = firstBins[k], to = k + 1 < Intervals ? firstBins[k + 1] - 1 : bins - 1;
            levels[k] = sums.Mean(from, to);
            if (k > 0) thresholds[k - 1] = PreActivationHistogram.LowerEdge(from);
        }
        // The grid's edges are multiples of 1/64, exact in float: the kernels compare against these very values.
        return TwoBitStepTable.Calibrated(thresholds.Select(t => (float)t).ToArray(), levels.Select(l => (float)l).ToArray());
    }

    /// <summary>How <paramref name="table"/> (thresholds in units of x) follows <paramref name="derivative"/> under the histogram.</summary>
    public static StepTableQuality Quality(TwoBitStepTable table, PreActivationHistogram histogram, Func<double, double> derivative)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(histogram);
        double total = 0, squaredError = 0, exactSquares = 0, tableSquares = 0, products = 0;
        for (int b = 0; b < PreActivationHistogram.BinCount; b++)
        {
            long count = histogram.Counts[b];
            if (count == 0) continue;
            double x = PreActivationHistogram.Representative(b);
            double exact = derivative(x), step = table.Levels[table.CodeOf(x)];
            total += count;
            squaredError += count * (exact - step) * (exact - step);
            exactSquares += count * exact * exact;
            tableSquares += count * step * step;
            products += count * exact * step;
        }
        double cosine = exactSquares > 0 && tableSquares > 0 ? products / Math.Sqrt(exactSquares * tableSquares) : double.NaN;
        return new StepTableQuality(total > 0 ? squaredError / total : double.NaN, cosine);
    }

    /// <summary>Prefix sums of count, count·h′ and count·h′² over the bins, for the error of any run of bins.</summary>
    private sealed class IntervalSums
    {
        private readonly double[] _weight, _first, _second;
        private readonly double[] _derivative;

        public IntervalSums(PreActivationHistogram histogram, Func<double, double> derivative)
        {
            int bins = PreActivationHistogram.BinCount;
            _weight = new double[bins + 1];
            _first = new double[bins + 1];
            _second = new double[bins + 1];
            _derivative = new double[bins];
            for (int b = 0; b < bins; b++)
            {
                double g = derivative(PreActivationHistogram.Representative(b));
                double w = histogram.Counts[b];
                _derivative[b] = g;
                _weight[b + 1] = _weight[b] + w;
                _first[b + 1] = _first[b] + w * g;
                _second[b + 1] = _second[b] + w * g * g;
            }
        }

        /// <summary>Σ count·(h′ − mean)² over bins i..j: the error of one level there.</summary>
        public double Error(int i, int j)
        {
            double w = _weight[j + 1] - _weight[i];
            if (w <= 0) return 0;
            double s = _first[j + 1] - _first[i];
            return Math.Max(0, _second[j + 1] - _second[i] - s * s / w);
        }

        /// <summary>The count-weighted mean of h′ over bins i..j; over an interval nothing fell in, its plain mean.</summary>
        public double Mean(int i, int j)
        {
            double w = _weight[j + 1] - _weight[i];
            if (w > 0) return (_first[j + 1] - _first[i]) / w;
            double sum = 0;
            for (int b = i; b <= j; b++) sum += _derivative[b];
            return sum / (j - i + 1);
        }
    }
}
