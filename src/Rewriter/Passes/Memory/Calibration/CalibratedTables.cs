using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Memory.Calibration;

/// <summary>What calibration did to one activation: the fitted table, and how it and the table it replaced follow the exact derivative there.</summary>
/// <param name="Node">The forward op (ReGelu2/ReSilu2).</param>
/// <param name="Input">The activation input whose distribution was counted.</param>
/// <param name="Kind">Whether the node is a ReGelu2 or a ReSilu2.</param>
/// <param name="Samples">Inputs counted (NaN left out).</param>
/// <param name="Table">The fitted table, now in the node's and its gradients' attributes.</param>
/// <param name="Replaced">Quality of the table the node had before, under the same distribution.</param>
/// <param name="Calibrated">Quality of the fitted table under that distribution.</param>
public sealed record CalibratedActivation(string Node, string Input, TwoBitActivationKind Kind, long Samples, TwoBitStepTable Table,
    StepTableQuality Replaced, StepTableQuality Calibrated);

/// <summary>
/// Writes per-layer calibrated tables into a rewritten graph: for every ReGelu2/ReSilu2 of the
/// chosen kinds whose input was counted, fits a table to that input's distribution
/// (<see cref="StepTableFit"/>) and stores it as node attributes on the op and its gradients.
/// Counting the inputs needs the model run on data; the runtime's calibrator does that and calls
/// this.
/// </summary>
public static class CalibratedTables
{
    /// <summary>
    /// Fits and writes a table for every 2-bit activation of <paramref name="kinds"/> in <paramref name="rewritten"/>
    /// (edited in place) whose input has a non-empty histogram; the others keep their table.
    /// </summary>
    /// <param name="rewritten">
    /// A graph after regelu2/resilu2, whose ReGelu2/ReSilu2 nodes and gradients receive the tables.
    /// </param>
    /// <param name="histograms">Counted inputs by value name: the name the forward op reads as input 0.</param>
    /// <param name="kinds">The activations to calibrate (`--gelu-table calibrated`, `--silu-table calibrated`).</param>
    /// <returns>One record per calibrated activation, in node order.</returns>
    public static IReadOnlyList<CalibratedActivation> Apply(OnnxModel rewritten, IReadOnlyDictionary<string, PreActivationHistogram> histograms,
        IReadOnlySet<TwoBitActivationKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(rewritten);
        ArgumentNullException.ThrowIfNull(histograms);
        ArgumentNullException.ThrowIfNull(kinds);
        var done = new List<CalibratedActivation>();
        foreach (TwoBitPair pair in TwoBitPair.In(rewritten.Graph).Where(p => kinds.Contains(p.Kind)))
        {
            if (!histograms.TryGetValue(pair.Input, out PreActivationHistogram? histogram) || histogram.Total == 0) continue;
            TwoBitStepTable before = TwoBitStepTable.ForNode(pair.Forward);
            TwoBitStepTable fitted = StepTableFit.Fit(histogram, pair.Derivative);
            StepTableAttributes.Write(pair, fitted);
            done.Add(new CalibratedActivation(pair.Forward.Label, pair.Input, pair.Kind, histogram.Total, fitted,
                StepTableFit.Quality(before, histogram, pair.Derivative), StepTableFit.Quality(fitted, histogram, pair.Derivative)));
        }
        return done;
    }
}
