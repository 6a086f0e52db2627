using OnnxMemOpt.Runtime.Bench;
using System.Globalization;
using System.Text.Json.Nodes;
using OnnxMemOpt.Cli.Commands;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Bench;

/// <summary>The bench's two output forms: PRODUCT.md's JSON keys (plus details) and one comparison table.</summary>
internal static class BenchReport
{
    public static JsonObject ToJson(BenchOutcome outcome)
    {
        var rewrites = new JsonObject();
        foreach (var group in outcome.Rewrites.Rewrites.GroupBy(r => r.Pass).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            rewrites[group.Key] = group.Count();
        }
        return new JsonObject
        {
            ["model"] = outcome.Model,
            ["shape"] = outcome.Shape,
            ["trainable"] = outcome.Trainable,
            ["trained_parameters"] = outcome.TrainedParameters,
            ["batch"] = outcome.Batch,
            ["seq"] = outcome.Sequence,
            ["steps"] = outcome.Steps,
            ["rewrites"] = rewrites,
            ["skipped"] = new JsonArray([.. outcome.Rewrites.Skipped.Select(x => (JsonNode?)new JsonObject { ["pass"] = x.Pass, ["node"] = x.Node, ["reason"] = x.Reason })]),
            ["baseline"] = Configuration(outcome.Baseline),
            ["rewritten"] = Configuration(outcome.Rewritten),
            ["peak_ratio"] = outcome.PeakRatio,
            ["time_ratio"] = outcome.TimeRatio,
            ["estimated_peak_ratio"] = outcome.EstimatedPeakRatio,
            ["saved_activation_ratio"] = outcome.SavedActivationRatio,
            ["final_loss_rel_diff"] = outcome.FinalLossRelativeDifference,
            ["seconds"] = Math.Round(outcome.SecondsTotal, 1),
        };
    }

    private static JsonObject Configuration(ConfigurationFigures figures) => new()
    {
        ["measured_peak_bytes"] = figures.MeasuredPeakBytes,
        ["estimated_peak_bytes"] = figures.EstimatedPeakBytes,
        ["saved_activation_bytes"] = figures.SavedActivationBytes,
        ["median_step_ms"] = figures.MedianStepMilliseconds,
        ["final_loss"] = figures.FinalLoss,
        ["estimated_graph_peak_bytes"] = figures.EstimatedGraphPeakBytes,
        ["estimate_error"] = figures.EstimateError,
        ["parameter_bytes"] = figures.Run.ParameterBytes,
        ["arena_total_allocated_bytes"] = figures.Run.Arena.TotalAllocated,
        ["losses"] = new JsonArray([.. figures.Run.Losses.Select(l => (JsonNode?)JsonValue.Create(l))]),
        ["step_ms"] = new JsonArray([.. figures.Run.StepMilliseconds.Select(t => (JsonNode?)JsonValue.Create(Math.Round(t, 3)))]),
        ["eval_loss"] = figures.Run.Evaluation?.Loss,
        ["eval_accuracy"] = figures.Run.Evaluation?.Accuracy,
        ["evaluations"] = new JsonArray([.. figures.Run.Evaluations.Select(e => (JsonNode?)new JsonObject
        {
            ["step"] = e.Step,
            ["loss"] = e.Result.Loss,
            ["accuracy"] = e.Result.Accuracy,
            ["examples"] = e.Result.Examples,
        })]),
        ["estimated_peak_at"] = PeakAt(figures.ArenaEstimate),
    };

    /// <summary>
    /// Where the replayed arena peaks: the node running then, the bytes its live buffers request
    /// (the arena's in-use figure less its rounding and unsplit-chunk slack) and the largest of them.
    /// </summary>
    private static JsonObject? PeakAt(Memory.Runtime.ArenaReplay? replay)
    {
        if (replay?.PeakNode is not { } node) return null;
        return new JsonObject
        {
            ["node"] = node.Name,
            ["op"] = node.OpType,
            ["live_requested_bytes"] = replay.LiveAtPeak(int.MaxValue).Sum(l => l.Bytes),
            ["largest_live"] = new JsonArray([.. replay.LiveAtPeak(8).Select(l => (JsonNode?)new JsonObject { ["value"] = l.Value, ["bytes"] = l.Bytes })]),
        };
    }

    /// <summary>One table: a row per figure, columns baseline, rewritten and rewritten/baseline.</summary>
    public static Table Table(BenchOutcome outcome)
    {
        var table = new Table()
            .Title(Markup.Escape($"{outcome.Shape}; {outcome.Trainable}; {outcome.Steps} steps after 1 warm-up step"))
            .AddColumn("")
            .AddColumn(new TableColumn("baseline").RightAligned())
            .AddColumn(new TableColumn("rewritten").RightAligned())
            .AddColumn(new TableColumn("rewritten/baseline").RightAligned());
        ConfigurationFigures b = outcome.Baseline, r = outcome.Rewritten;
        table.AddRow("measured peak (arena MaxInUse)", Mib(b.MeasuredPeakBytes), Mib(r.MeasuredPeakBytes), Ratio(outcome.PeakRatio));
        table.AddRow("estimated peak", Mib(b.EstimatedPeakBytes), Mib(r.EstimatedPeakBytes), Ratio(outcome.EstimatedPeakRatio));
        table.AddRow("estimate vs measured", Percent(b.EstimateError), Percent(r.EstimateError), "");
        table.AddRow("saved activations", Mib(b.SavedActivationBytes), Mib(r.SavedActivationBytes), Ratio(outcome.SavedActivationRatio));
        table.AddRow("median step", Ms(b.MedianStepMilliseconds), Ms(r.MedianStepMilliseconds), Ratio(outcome.TimeRatio));
        table.AddRow($"loss after {outcome.Steps} steps", Loss(b.FinalLoss), Loss(r.FinalLoss), Percent(outcome.FinalLossRelativeDifference, signed: false) + " diff");
        if (b.Run.Evaluation is { } be && r.Run.Evaluation is { } re)
        {
            table.AddRow("eval accuracy", Percent(be.Accuracy, signed: false), Percent(re.Accuracy, signed: false),
                $"{(re.Accuracy - be.Accuracy) * 100:+0.0;-0.0;0.0} points");
        }
        return table;
    }

    public static void Render(CommandIO io, BenchOutcome outcome)
    {
        IAnsiConsole console = MemoryReport.Console(io.Out);
        console.Write(Table(outcome));
        string passes = string.Join(", ", outcome.Rewrites.Rewrites.GroupBy(x => x.Pass).Select(g => $"{g.Key} ×{g.Count()}"));
        console.WriteLine($"rewrites: {(passes.Length == 0 ? "none" : passes)}; {outcome.Rewrites.Skipped.Count} skipped; {outcome.SecondsTotal:F0} s in all");
    }

    public static string Mib(long? bytes) => bytes is { } b ? (b / (1024.0 * 1024.0)).ToString("N1", CultureInfo.InvariantCulture) + " MiB" : "?";

    private static string Ms(double ms) => ms.ToString("N1", CultureInfo.InvariantCulture) + " ms";

    private static string Loss(float loss) => loss.ToString("F4", CultureInfo.InvariantCulture);

    private static string Ratio(double? ratio) => ratio is { } r && double.IsFinite(r) ? r.ToString("F3", CultureInfo.InvariantCulture) : "?";

    private static string Percent(double? value, bool signed = true) => value is { } v
        ? (v * 100).ToString(signed ? "+0.0;-0.0;0.0" : "0.0", CultureInfo.InvariantCulture) + " %"
        : "?";
}
