using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Calibration;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Runtime.Verification;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Rewriter.TrainingGraphs;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// Calibrated 2-bit tables: the fit is the least-squares optimum over its grid, it follows the
/// derivative better than the published tables under the distribution it was fitted to, and in a
/// graph the calibrated ops compute what their attributes say (the step-derivative reference
/// reads the same attributes) while each activation's dX moves closer to the exact one.
/// </summary>
public class CalibratedTableTests(ITestOutputHelper output)
{
    private static PreActivationHistogram NormalSamples(int count, double mean, double sd, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u = 1 - random.NextDouble(), v = random.NextDouble();
            values[i] = (float)(mean + sd * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
        var histogram = new PreActivationHistogram();
        histogram.Add(values);
        return histogram;
    }

    /// <summary>
    /// Against an exhaustive search over thresholds on a 1/8 grid in [−4, 4] (levels at the interval
    /// means, computed here from the counts directly): the dynamic programme's table, on the finer
    /// 1/64 grid, is at least as good, and better than both published tables.
    /// </summary>
    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(-0.9, 1.4)]
    public void FitIsAtLeastAsGoodAsAnExhaustiveSearchAndBeatsThePublishedTables(double mean, double sd)
    {
        PreActivationHistogram histogram = NormalSamples(400_000, mean, sd, seed: 3);
        TwoBitStepTable fitted = StepTableFit.Fit(histogram, ActivationDerivatives.Gelu);
        double fittedError = StepTableFit.Quality(fitted, histogram, ActivationDerivatives.Gelu).MeanSquaredError;

        double[] grid = Enumerable.Range(-32, 65).Select(i => i / 8.0).ToArray();
        var sums = new BinSums(histogram);
        double best = double.PositiveInfinity;
        for (int a = 0; a < grid.Length; a++)
        {
            for (int b = a + 1; b < grid.Length; b++)
            {
                for (int c = b + 1; c < grid.Length; c++)
                {
                    best = Math.Min(best, sums.ErrorWithMeanLevels([grid[a], grid[b], grid[c]]));
                }
            }
        }
        double paper = StepTableFit.Quality(TwoBitStepTable.Gelu, histogram, ActivationDerivatives.Gelu).MeanSquaredError;
        double fewBit = StepTableFit.Quality(TwoBitStepTable.GeluFewBit, histogram, ActivationDerivatives.Gelu).MeanSquaredError;
        output.WriteLine($"N({mean}, {sd}²): fitted thresholds {string.Join(", ", fitted.Thresholds)}, levels {string.Join(", ", fitted.Levels.Select(l => l.ToString("F4")))}");
        output.WriteLine($"mean squared error: fitted {fittedError:E4}, exhaustive 1/8 grid {best:E4}, few-bit {fewBit:E4}, paper {paper:E4}");
        Assert.True(fittedError <= best * (1 + 1e-9), $"fitted {fittedError:E6} vs exhaustive {best:E6}");
        Assert.True(fittedError < paper, $"fitted {fittedError:E4}, paper {paper:E4}");
        Assert.True(fittedError < fewBit, $"fitted {fittedError:E4}, few-bit {fewBit:E4}");
        // Levels at the interval means (the centroid condition): then the expected cosine is √(1 − MSE/E[h′²]).
        StepTableQuality quality = StepTableFit.Quality(fitted, histogram, ActivationDerivatives.Gelu);
        double meanSquare = MeanOf(histogram, x => ActivationDerivatives.Gelu(x) * ActivationDerivatives.Gelu(x));
        Assert.Equal(Math.Sqrt(1 - quality.MeanSquaredError / meanSquare), quality.Cosine, 4);
    }

    [Fact]
    public void AnEmptyHistogramCannotBeFitted() =>
        Assert.Throws<ArgumentException>(() => StepTableFit.Fit(new PreActivationHistogram(), ActivationDerivatives.Gelu));

    /// <summary>A distribution on fewer than four bins still gives four intervals with strictly increasing thresholds.</summary>
    [Fact]
    public void ADegenerateDistributionStillGivesAValidTable()
    {
        var histogram = new PreActivationHistogram();
        histogram.Add([0.5f, 0.5f, 0.5f, 2f]);
        TwoBitStepTable fitted = StepTableFit.Fit(histogram, ActivationDerivatives.Gelu);
        Assert.True(fitted.Thresholds[0] < fitted.Thresholds[1] && fitted.Thresholds[1] < fitted.Thresholds[2]);
        Assert.Equal(0, StepTableFit.Quality(fitted, histogram, ActivationDerivatives.Gelu).MeanSquaredError, 6);
    }

    public static TheoryData<Norm, Activation, string> GraphCases() => new()
    {
        { Norm.LayerNorm, Activation.Gelu, "regelu2" },
        { Norm.LayerNorm, Activation.Gelu, "regelu2,msln" },
        { Norm.RmsNorm, Activation.QuickGelu, "resilu2" },
        { Norm.RmsNorm, Activation.SiluUnfused, "resilu2,msrms" },
    };

    /// <summary>
    /// Calibrating a rewritten one-layer graph on its own feeds: both ops of the pair carry the
    /// fitted attributes, the gradients equal the step-derivative reference built from those
    /// attributes (to float rounding: the kernels read them as the reference does), and the
    /// activation's own dX is closer to dY·h′(x) than with the paper's table.
    /// </summary>
    [Theory]
    [MemberData(nameof(GraphCases))]
    public void CalibratedGraphMatchesItsStepDerivativeAndFollowsTheExactGradientMoreClosely(Norm norm, Activation activation, string passes)
    {
        var proto = Build(norm, activation, trainableAffine: false);
        var feeds = UnitVarianceFeeds(proto, seed: 11);
        OnnxModel original = OnnxModel.FromProto(proto.Clone());
        OnnxModel paper = OnnxModel.FromProto(proto.Clone());
        OnnxModel calibrated = OnnxModel.FromProto(proto.Clone());
        MemoryPasses.Run(paper, passes.Split(','));
        var options = new RewriteOptions { GeluTable = GeluTables.Calibrated, SiluTable = SiluTables.Calibrated };
        MemoryPasses.Run(calibrated, passes.Split(','), options: options);
        IReadOnlyList<CalibratedActivation> fitted;
        using (TrainingBatch batch = AsBatch(feeds))
        {
            fitted = StepTableCalibrator.Calibrate(calibrated, [batch], StepTableCalibrator.KindsAskedFor(options));
        }
        CalibratedActivation only = Assert.Single(fitted);
        Assert.Equal(Rows * Hidden, only.Samples);
        Assert.True(only.Calibrated.Cosine > only.Replaced.Cosine, $"expected cosine {only.Calibrated.Cosine} vs {only.Replaced.Cosine}");
        TwoBitPair pair = Assert.Single(TwoBitPair.In(calibrated.Graph));
        foreach (var node in pair.Gradients.Prepend(pair.Forward))
        {
            Assert.Equal("calibrated", node.GetString("table", ""));
            Assert.Equal(only.Table.Thresholds.Select(t => (float)t), node.GetFloats("thresholds")!);
            Assert.Equal(only.Table.Levels.Select(l => (float)l), node.GetFloats("levels")!);
        }

        StepDerivativeReference reference = StepDerivativeReferenceBuilder.Build(original, calibrated);
        Assert.Null(reference.Reason);
        var method = ModelFeeds.Run(reference.Model!.ToBytes(), feeds);
        var actual = ModelFeeds.Run(calibrated.ToBytes(), feeds);
        foreach (string name in method.Keys.Where(k => k.EndsWith("_grad", StringComparison.Ordinal)))
        {
            double error = GradientComparison.RelativeError(method[name], actual[name]);
            Assert.True(error <= 1e-5, $"{name}: {error:E3} from the calibrated step derivative");
        }

        ActivationGradient withPaper = Assert.Single(ActivationGradientCheck.Run(paper, feeds, original));
        ActivationGradient withCalibrated = Assert.Single(ActivationGradientCheck.Run(calibrated, feeds, original));
        output.WriteLine($"{activation}: dX cosine paper {withPaper.Local.Cosine:F4} (propagated {withPaper.Propagated?.Cosine:F4}), calibrated {withCalibrated.Local.Cosine:F4} (propagated {withCalibrated.Propagated?.Cosine:F4})");
        Assert.Equal("calibrated", withCalibrated.Table);
        Assert.True(withCalibrated.Local.Cosine > withPaper.Local.Cosine, $"calibrated {withCalibrated.Local.Cosine} vs paper {withPaper.Local.Cosine}");
        // One activation and nothing approximate after it: its dX is the first approximate value,
        // so the propagated figure equals the local one.
        Assert.Equal(withCalibrated.Local.Cosine!.Value, withCalibrated.Propagated!.Cosine!.Value, 6);
    }

    /// <summary>Counts, Σ h′ and Σ h′² up to each bin, read at the bins' centres: any interval's error with its mean as level, in O(1).</summary>
    private sealed class BinSums
    {
        private readonly double[] _n, _g, _g2;
        private readonly double _total;

        public BinSums(PreActivationHistogram histogram)
        {
            int bins = PreActivationHistogram.BinCount;
            (_n, _g, _g2, _total) = (new double[bins + 1], new double[bins + 1], new double[bins + 1], histogram.Total);
            for (int b = 0; b < bins; b++)
            {
                double count = histogram.Counts[b], g = ActivationDerivatives.Gelu(PreActivationHistogram.Representative(b));
                _n[b + 1] = _n[b] + count;
                _g[b + 1] = _g[b] + count * g;
                _g2[b + 1] = _g2[b] + count * g * g;
            }
        }

        /// <summary>The mean squared error of the table with these thresholds (on bin edges) and each level its interval's mean.</summary>
        public double ErrorWithMeanLevels(double[] thresholds)
        {
            // A bin's centre lies above an edge threshold t exactly when the bin comes after BinOf(t).
            int[] edges = [0, .. thresholds.Select(t => PreActivationHistogram.BinOf(t) + 1), PreActivationHistogram.BinCount];
            double error = 0;
            for (int k = 0; k < 4; k++)
            {
                double n = _n[edges[k + 1]] - _n[edges[k]], g = _g[edges[k + 1]] - _g[edges[k]], g2 = _g2[edges[k + 1]] - _g2[edges[k]];
                error += n > 0 ? g2 - g * g / n : 0;
            }
            return error / _total;
        }
    }

    private static double MeanOf(PreActivationHistogram histogram, Func<double, double> f)
    {
        double total = 0;
        for (int b = 0; b < PreActivationHistogram.BinCount; b++) total += histogram.Counts[b] * f(PreActivationHistogram.Representative(b));
        return total / histogram.Total;
    }

    private static TrainingBatch AsBatch(IEnumerable<NamedOnnxValue> feeds)
    {
        var batch = new TrainingBatch();
        foreach (NamedOnnxValue feed in feeds)
        {
            var tensor = (DenseTensor<float>)feed.Value;
            batch.Add(feed.Name, tensor.Buffer.ToArray(), tensor.Dimensions.ToArray().Select(d => (long)d).ToArray());
        }
        return batch;
    }
}
