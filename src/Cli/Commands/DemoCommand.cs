using OnnxMemOpt.Runtime.Bench;
using System.CommandLine;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Cli.Demo;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt demo`: the main job on the embedded default. Fine-tunes all-MiniLM-L6-v2 with LoRA on
/// the embedded SpamAssassin messages (spam vs ham), baseline and rewritten side by side, prints the
/// comparison and writes a report folder (charts of live memory, loss and held-out accuracy,
/// report.md, report.json).
/// </summary>
internal static class DemoCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var output = new Option<string>("--out") { Description = "Report folder.", DefaultValueFactory = _ => "onnxmemopt-demo-report" };
        var defaults = new DemoSettings();
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => defaults.Batch };
        var seq = new Option<int>("--seq") { Description = "Word pieces per message (cut or padded).", DefaultValueFactory = _ => defaults.Sequence };
        var evalExamples = new Option<int?>("--eval-examples") { Description = "Held-out messages to evaluate on (default: all of the held-out split)." };
        var passes = new Option<string?>("--passes") { Description = "Memory passes of the rewritten run, as rewrite's --passes (default: all that apply), e.g. msln to see MS-LN alone." };
        Option<string> geluTable = GeluTableOption.Create();
        Option<string> siluTable = SiluTableOption.Create();
        var command = new Command("demo", "Fine-tune all-MiniLM-L6-v2 with LoRA on the embedded SpamAssassin corpus (spam vs ham), baseline vs rewritten, and write a report.");
        foreach (Option option in new Option[] { output, steps, batch, seq, evalExamples, passes, geluTable, siluTable })
        {
            command.Options.Add(option);
        }
        common.AddTo(command);
        command.SetAction(parse =>
        {
            if (parse.GetValue(steps) < 1 || parse.GetValue(batch) < 1 || parse.GetValue(seq) < 4 || parse.GetValue(evalExamples) is < 1)
            {
                throw new UsageException("--steps, --batch and --eval-examples must be at least 1, --seq at least 4");
            }
            if (common.BindingsFrom(parse).Values.Count > 0)
            {
                // The demo's model is fixed and its two symbols are its batch and sequence: a --dim
                // would either be ignored or contradict those options.
                throw new UsageException("demo binds its model's symbolic dims (batch, sequence) from --batch and --seq; give those instead of --dim");
            }
            bool json = parse.GetValue(common.Json);
            var settings = defaults with
            {
                Steps = parse.GetValue(steps),
                EvalExamples = parse.GetValue(evalExamples) ?? defaults.EvalExamples,
                Batch = parse.GetValue(batch),
                Sequence = parse.GetValue(seq),
                Passes = RewriteCommand.ParsePasses(parse.GetValue(passes)),
                Rewrite = SiluTableOption.Options(parse),
            };
            string reportDirectory = Path.GetFullPath(parse.GetValue(output)!);
            string work = Path.Combine(Path.GetTempPath(), "onnxmemopt-demo-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                DemoOutcome outcome = TrainingProgress.Run(io, TrainingProgress.IsInteractive(io, json),
                    [BenchGraphs.BaselineName, BenchGraphs.RewrittenName], settings.Steps, onStep => DemoRunner.Run(settings, work, onStep));
                IReadOnlyList<string> files = DemoReport.Write(outcome, reportDirectory);
                if (json)
                {
                    var report = DemoReport.ToJson(outcome);
                    report["report_files"] = new System.Text.Json.Nodes.JsonArray([.. files.Select(f => (System.Text.Json.Nodes.JsonNode?)System.Text.Json.Nodes.JsonValue.Create(f))]);
                    io.Out.WriteLine(report.ToJsonString(JsonOutput.Options));
                }
                else
                {
                    BenchReport.Render(io, outcome.Comparison);
                    MemoryReport.Console(io.Out).MarkupLine($"report: {Markup.Escape(reportDirectory)} ({string.Join(", ", files.Select(Path.GetFileName))})");
                }
                return ExitCodes.Success;
            }
            finally
            {
                if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
        });
        return command;
    }
}
