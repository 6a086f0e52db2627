using System.CommandLine;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Cli.Demo;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt demo`: the main job on the embedded default. Fine-tunes all-MiniLM-L6-v2 with LoRA on
/// the embedded sentiment sentences, baseline and rewritten side by side, prints the comparison and
/// writes a report folder (charts of live memory and loss, report.md, report.json).
/// </summary>
internal static class DemoCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var output = new Option<string>("--out") { Description = "Report folder.", DefaultValueFactory = _ => "onnxmemopt-demo-report" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 16 };
        var seq = new Option<int>("--seq") { Description = "Tokens per sentence (padded).", DefaultValueFactory = _ => 32 };
        var passes = new Option<string?>("--passes") { Description = "Memory passes of the rewritten run, as rewrite's --passes (default: all that apply), e.g. msln to see MS-LN alone." };
        Option<string> geluTable = GeluTableOption.Create();
        var command = new Command("demo", "Fine-tune all-MiniLM-L6-v2 with LoRA on a small embedded sentiment set, baseline vs rewritten, and write a report.");
        foreach (Option option in new Option[] { output, steps, batch, seq, passes, geluTable })
        {
            command.Options.Add(option);
        }
        common.AddTo(command);
        command.SetAction(parse =>
        {
            if (parse.GetValue(steps) < 1 || parse.GetValue(batch) < 1 || parse.GetValue(seq) < 4)
            {
                throw new UsageException("--steps and --batch must be at least 1, --seq at least 4");
            }
            if (common.BindingsFrom(parse).Values.Count > 0)
            {
                // The demo's model is fixed and its two symbols are its batch and sequence: a --dim
                // would either be ignored or contradict those options.
                throw new UsageException("demo binds its model's symbolic dims (batch, sequence) from --batch and --seq; give those instead of --dim");
            }
            bool json = parse.GetValue(common.Json);
            var settings = new DemoSettings
            {
                Steps = parse.GetValue(steps),
                Batch = parse.GetValue(batch),
                Sequence = parse.GetValue(seq),
                Passes = RewriteCommand.ParsePasses(parse.GetValue(passes)),
                Rewrite = new OnnxMemOpt.Patterns.RewriteOptions { GeluTable = GeluTableOption.Value(parse) },
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
