using OnnxMemOpt.Runtime.Bench;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Demo;

/// <summary>Writes the demo's report folder: report.json (the bench keys plus the demo's), report.md, and the charts.</summary>
internal static class DemoReport
{
    public static IReadOnlyList<string> Write(DemoOutcome outcome, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        files.AddRange(DemoCharts.Memory(outcome.Comparison, directory));
        files.AddRange(DemoCharts.Loss(outcome.Comparison, directory));
        files.AddRange(DemoCharts.Accuracy(outcome.Comparison, directory));

        JsonObject json = ToJson(outcome);
        string jsonPath = Path.Combine(directory, "report.json");
        File.WriteAllText(jsonPath, json.ToJsonString(JsonOutput.Options));
        string markdownPath = Path.Combine(directory, "report.md");
        File.WriteAllText(markdownPath, Markdown(outcome));
        files.Add(jsonPath);
        files.Add(markdownPath);
        return files;
    }

    public static JsonObject ToJson(DemoOutcome outcome)
    {
        JsonObject json = BenchReport.ToJson(outcome.Comparison);
        json["data"] = new JsonObject
        {
            ["source"] = outcome.Data.Source,
            ["train_examples"] = outcome.Data.TrainExamples,
            ["eval_examples"] = outcome.Data.EvalExamples,
            ["train_pool"] = outcome.Data.TrainPool,
        };
        json["seed"] = outcome.Settings.Seed;
        json["gelu_table"] = outcome.Settings.Rewrite.GeluTable;
        json["activations"] = new JsonArray([.. outcome.Activations.Select(a => (JsonNode?)new JsonObject
        {
            ["node"] = a.Node,
            ["table"] = a.Table,
            ["dx_cosine"] = a.Local.Cosine,
            ["dx_rel_err"] = a.Local.RelativeError,
        })]);
        json["calibrated"] = new JsonArray([.. outcome.Calibrated.Select(c => (JsonNode?)new JsonObject
        {
            ["node"] = c.Node,
            ["samples"] = c.Samples,
            ["thresholds"] = new JsonArray([.. c.Table.Thresholds.Select(t => (JsonNode?)JsonValue.Create(t))]),
            ["levels"] = new JsonArray([.. c.Table.Levels.Select(l => (JsonNode?)JsonValue.Create(l))]),
            ["expected_dx_cosine_replaced"] = c.Replaced.Cosine,
            ["expected_dx_cosine"] = c.Calibrated.Cosine,
        })]);
        json["learning_rate"] = outcome.Settings.LearningRate;
        json["warmup_steps"] = outcome.Settings.WarmupSteps;
        return json;
    }

    private static string Markdown(DemoOutcome outcome)
    {
        BenchOutcome c = outcome.Comparison;
        ConfigurationFigures b = c.Baseline, r = c.Rewritten;
        var md = new StringBuilder();
        md.AppendLine("# OnnxMemOpt demo: LoRA fine-tuning of all-MiniLM-L6-v2");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{c.Shape}; trainable set {c.Trainable} ({c.TrainedParameters} trained tensors); {c.Steps} optimizer steps " +
            $"(AdamW, peak learning rate {outcome.Settings.LearningRate}, {outcome.Settings.WarmupSteps} warm-up steps then cosine) after one warm-up train step; " +
            $"spam vs ham on {outcome.Data.TrainExamples} training and {outcome.Data.EvalExamples} held-out messages of the {outcome.Data.Source}; float32 on the CPU.");
        md.AppendLine();
        md.AppendLine("| | baseline | rewritten | rewritten/baseline |");
        md.AppendLine("|---|---:|---:|---:|");
        md.AppendLine(CultureInfo.InvariantCulture, $"| measured peak (arena MaxInUse) | {BenchReport.Mib(b.MeasuredPeakBytes)} | {BenchReport.Mib(r.MeasuredPeakBytes)} | {c.PeakRatio:F3} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| estimated peak | {BenchReport.Mib(b.EstimatedPeakBytes)} | {BenchReport.Mib(r.EstimatedPeakBytes)} | {c.EstimatedPeakRatio:F3} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| saved activations | {BenchReport.Mib(b.SavedActivationBytes)} | {BenchReport.Mib(r.SavedActivationBytes)} | {c.SavedActivationRatio:F3} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| median step | {b.MedianStepMilliseconds:F1} ms | {r.MedianStepMilliseconds:F1} ms | {c.TimeRatio:F3} |");
        md.AppendLine(CultureInfo.InvariantCulture, $"| final training loss | {b.FinalLoss:F4} | {r.FinalLoss:F4} | {c.FinalLossRelativeDifference * 100:F2} % apart |");
        if (b.Run.Evaluation is { } be && r.Run.Evaluation is { } re)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| held-out loss | {be.Loss:F4} | {re.Loss:F4} | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| held-out accuracy | {be.Accuracy * 100:F1} % | {re.Accuracy * 100:F1} % | {(re.Accuracy - be.Accuracy) * 100:+0.0;-0.0;0.0} points |");
        }
        md.AppendLine();
        AppendEvaluations(md, b, r);
        string passes = string.Join(", ", c.Rewrites.Rewrites.GroupBy(x => x.Pass).Select(g => $"{g.Key} ×{g.Count()}"));
        md.AppendLine($"Rewrites: {(passes.Length == 0 ? "none" : passes)}.");
        foreach (var skip in c.Rewrites.Skipped.GroupBy(s => s.Pass))
        {
            md.AppendLine($"Skipped by {skip.Key} ({skip.Count()}), e.g. {skip.First().Node}: {skip.First().Reason}");
        }
        md.AppendLine();
        AppendActivations(md, outcome);
        md.AppendLine("![live memory](memory.png)");
        md.AppendLine();
        md.AppendLine("The memory chart draws the estimate's liveness walk (the tensors alive after each node, in execution order; weights, adapters and their gradients live outside the arena) for both graphs; the dashed lines are the peaks ONNX Runtime's CPU arena measured (MaxInUse over the warm-up and all training steps; memory pattern and weight pre-packing off, so the arena holds exactly the step's tensors).");
        md.AppendLine();
        md.AppendLine("![loss](loss.png)");
        md.AppendLine();
        md.AppendLine("![held-out accuracy](accuracy.png)");
        return md.ToString();
    }

    /// <summary>Each 2-bit activation's dX against dY·h′(x), on the first held-out batch before training.</summary>
    private static void AppendActivations(StringBuilder md, DemoOutcome outcome)
    {
        if (outcome.Activations.Count == 0) return;
        md.AppendLine(CultureInfo.InvariantCulture, $"Each 2-bit activation's own input gradient against the exact one (dY·h′(x), same dY), on the first held-out batch before training ({outcome.Activations[0].Table} table):");
        md.AppendLine();
        md.AppendLine("| activation | dX cosine |");
        md.AppendLine("|---|---:|");
        foreach (var a in outcome.Activations)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {a.Node} | {(a.Local.Cosine is { } c ? c.ToString("F4", CultureInfo.InvariantCulture) : a.Local.ZeroNote)} |");
        }
        md.AppendLine();
    }

    /// <summary>Held-out loss and accuracy of both runs at each evaluation point.</summary>
    private static void AppendEvaluations(StringBuilder md, ConfigurationFigures b, ConfigurationFigures r)
    {
        if (b.Run.Evaluations.Count == 0) return;
        md.AppendLine("| after step | baseline held-out loss | baseline accuracy | rewritten held-out loss | rewritten accuracy |");
        md.AppendLine("|---:|---:|---:|---:|---:|");
        foreach ((EvaluationPoint be, EvaluationPoint re) in b.Run.Evaluations.Zip(r.Run.Evaluations))
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {be.Step} | {be.Result.Loss:F4} | {be.Result.Accuracy * 100:F1} % | {re.Result.Loss:F4} | {re.Result.Accuracy * 100:F1} % |");
        }
        md.AppendLine();
    }
}
