using OnnxMemOpt.Runtime.Bench;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Memory;
using ScottPlot;

namespace OnnxMemOpt.Cli.Demo;

/// <summary>
/// The demo report's charts (PNG and SVG, ScottPlot): live memory over one training step in
/// execution order, one line per configuration, with the measured peaks as dashed lines; the loss
/// curves (training loss per step, held-out loss at each evaluation); and held-out accuracy.
/// </summary>
internal static class DemoCharts
{
    private const double Mib = 1024.0 * 1024.0;
    private static readonly Color BaselineColor = new(0x1f, 0x77, 0xb4);
    private static readonly Color RewrittenColor = new(0xd6, 0x27, 0x28);

    /// <summary>
    /// Live bytes after each node, as the estimate's liveness walk sees them (the step's tensors; the
    /// weights live outside the arena); x is the position in the step (0 = first forward
    /// node, 1 = last backward node) so that graphs with different node counts line up.
    /// </summary>
    public static IReadOnlyList<string> Memory(BenchOutcome outcome, string directory)
    {
        var plot = new Plot();
        AddProfile(plot, outcome.Baseline, BaselineColor);
        AddProfile(plot, outcome.Rewritten, RewrittenColor);
        AddPeak(plot, outcome.Baseline, BaselineColor);
        AddPeak(plot, outcome.Rewritten, RewrittenColor);
        plot.Title("CPU arena bytes over one training step (estimated)");
        plot.XLabel("position in the step (ONNX Runtime's execution order: forward, then backward)");
        plot.YLabel("MiB");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.SetLimitsY(0, Math.Max(outcome.Baseline.MeasuredPeakBytes, outcome.Baseline.EstimatedPeakBytes ?? 0) / Mib * 1.15);
        return Save(plot, directory, "memory");
    }

    public static IReadOnlyList<string> Loss(BenchOutcome outcome, string directory)
    {
        var plot = new Plot();
        foreach ((ConfigurationFigures figures, Color color) in Configurations(outcome))
        {
            double[] ys = figures.Run.Losses.Select(l => (double)l).ToArray();
            double[] xs = Enumerable.Range(1, ys.Length).Select(i => (double)i).ToArray();
            var line = plot.Add.Scatter(xs, ys, color.WithAlpha(0.45));
            line.MarkerSize = 0;
            line.LineWidth = 1;
            line.LegendText = $"{figures.Name}, training batch";
            AddEvaluationCurve(plot, figures, color, e => e.Loss, $"{figures.Name}, held-out");
        }
        plot.Title("Loss");
        plot.XLabel("optimizer step");
        plot.YLabel("cross-entropy");
        plot.ShowLegend(Alignment.UpperRight);
        return Save(plot, directory, "loss");
    }

    public static IReadOnlyList<string> Accuracy(BenchOutcome outcome, string directory)
    {
        var plot = new Plot();
        foreach ((ConfigurationFigures figures, Color color) in Configurations(outcome))
        {
            AddEvaluationCurve(plot, figures, color, e => e.Accuracy * 100, figures.Name);
        }
        plot.Title("Held-out accuracy");
        plot.XLabel("optimizer step");
        plot.YLabel("% of held-out messages classified right");
        plot.ShowLegend(Alignment.LowerRight);
        return Save(plot, directory, "accuracy");
    }

    private static (ConfigurationFigures, Color)[] Configurations(BenchOutcome outcome) =>
        [(outcome.Baseline, BaselineColor), (outcome.Rewritten, RewrittenColor)];

    /// <summary>One figure of each evaluation point, joined by a line with markers at the points.</summary>
    private static void AddEvaluationCurve(Plot plot, ConfigurationFigures figures, Color color, Func<Runtime.Training.EvaluationResult, double> value, string legend)
    {
        if (figures.Run.Evaluations.Count == 0) return;
        double[] xs = figures.Run.Evaluations.Select(e => (double)e.Step).ToArray();
        double[] ys = figures.Run.Evaluations.Select(e => value(e.Result)).ToArray();
        var line = plot.Add.Scatter(xs, ys, color);
        line.MarkerSize = 7;
        line.LineWidth = 2;
        line.LegendText = legend;
    }

    /// <summary>The estimate's arena bytes node by node, in ONNX Runtime's execution order.</summary>
    private static void AddProfile(Plot plot, ConfigurationFigures figures, Color color)
    {
        if (figures.ArenaEstimate is not { StepBytes.Count: > 1 } arena) return;
        double last = arena.StepBytes.Count - 1;
        double[] xs = Enumerable.Range(0, arena.StepBytes.Count).Select(i => i / last).ToArray();
        double[] ys = arena.StepBytes.Select(b => b / Mib).ToArray();
        var line = plot.Add.Scatter(xs, ys, color);
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.LegendText = $"{figures.Name} (estimated arena, peak {BenchReport.Mib(figures.EstimatedPeakBytes)})";
    }

    private static void AddPeak(Plot plot, ConfigurationFigures figures, Color color)
    {
        var peak = plot.Add.HorizontalLine(figures.MeasuredPeakBytes / Mib, 1.5f, color, LinePattern.Dashed);
        peak.LegendText = $"{figures.Name} measured peak (arena MaxInUse) {BenchReport.Mib(figures.MeasuredPeakBytes)}";
    }

    private static IReadOnlyList<string> Save(Plot plot, string directory, string name)
    {
        string png = Path.Combine(directory, name + ".png");
        string svg = Path.Combine(directory, name + ".svg");
        plot.SavePng(png, 1000, 560);
        plot.SaveSvg(svg, 1000, 560);
        return [png, svg];
    }
}
