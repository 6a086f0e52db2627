using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>`onnxmemopt inspect MODEL`: opsets, op counts, parameter bytes, shapes and memory.</summary>
internal static class InspectCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument();
        var runtimePeak = CommonOptions.RuntimePeakOption();
        var command = new Command("inspect", "Report opsets, op counts by domain:op, parameter bytes and the memory estimate of a model.");
        command.Arguments.Add(model);
        command.Options.Add(runtimePeak);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            OnnxModel loaded = OnnxModel.Load(parse.GetValue(model)!);
            DimBindings dims = common.BindingsFor(parse, loaded);
            var report = InspectReport.Build(loaded, dims) with
            {
                RuntimePeak = parse.GetValue(runtimePeak) ? RuntimeArenaPeak.Of(loaded, dims) : null,
            };
            if (parse.GetValue(common.Json))
            {
                io.Out.WriteLine(report.ToJson().ToJsonString(JsonOutput.Options));
            }
            else
            {
                report.Render(io.Out);
            }
            return ExitCodes.Success;
        });
        return command;
    }
}

/// <summary>The data behind `inspect`, rendered as JSON or as terminal tables.</summary>
internal sealed record InspectReport(string File, ModelSummary Summary, int ValuesTyped, int ValuesSized, int Values, MemoryEstimate Memory, IReadOnlyList<(string Pass, string Rule, int Count)> Patterns)
{
    /// <summary>The runtime arena estimate, when `--runtime-peak` asked for it.</summary>
    public RuntimeArenaPeakResult? RuntimePeak { get; init; }

    public static InspectReport Build(OnnxModel model, DimBindings dims)
    {
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph, dims);
        var values = model.Graph.Nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0).ToList();
        int typed = values.Count(v => types.TryGetValue(v, out TensorType? t) && t.Shape is not null);
        int sized = values.Count(v => types.TryGetValue(v, out TensorType? t) && t.ByteSize is not null);
        return new InspectReport(model.FileName, ModelSummary.Of(model), typed, sized, values.Count, MemoryEstimate.Of(model, dims), RecognisedPatterns(model, dims));
    }

    /// <summary>What the passes would rewrite: they run on a copy, so inspect never changes the model.</summary>
    private static List<(string Pass, string Rule, int Count)> RecognisedPatterns(OnnxModel model, DimBindings dims)
    {
        OnnxModel copy = OnnxModel.FromProto(model.Proto.Clone(), model.FileName, model.BaseDirectory);
        PassResult result = MemoryPasses.Run(copy, MemoryPasses.All, dims);
        return result.Rewrites.GroupBy(r => (r.Pass, r.Rule)).Select(g => (g.Key.Pass, g.Key.Rule, g.Count())).ToList();
    }

    public JsonObject ToJson()
    {
        var opCounts = new JsonObject();
        foreach (var (op, count) in Summary.OpCounts) opCounts[op] = count;
        var opsets = new JsonObject();
        foreach (var (domain, version) in Summary.Opsets) opsets[domain] = version;
        return new JsonObject
        {
            ["file"] = File,
            ["ir_version"] = Summary.IrVersion,
            ["producer"] = Summary.ProducerName,
            ["opsets"] = opsets,
            ["node_count"] = Summary.NodeCount,
            ["op_counts"] = opCounts,
            ["parameter_count"] = Summary.InitializerCount,
            ["parameter_bytes"] = Summary.InitializerBytes,
            ["inputs"] = new JsonArray(Summary.Inputs.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
            ["outputs"] = new JsonArray(Summary.Outputs.Select(o => (JsonNode?)JsonValue.Create(o)).ToArray()),
            ["shapes"] = new JsonObject { ["values"] = Values, ["with_shape"] = ValuesTyped, ["with_size"] = ValuesSized },
            ["patterns"] = new JsonArray(Patterns.Select(p => (JsonNode?)new JsonObject { ["pass"] = p.Pass, ["pattern"] = p.Rule, ["count"] = p.Count }).ToArray()),
            ["memory"] = MemoryReport.WithRuntimePeak(MemoryReport.ToJson(Memory), RuntimePeak),
        };
    }

    public void Render(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No });
        console.MarkupLine($"[bold]{Markup.Escape(File)}[/]  ir_version {Summary.IrVersion}, producer {Markup.Escape(Summary.ProducerName)}");
        console.MarkupLine($"opsets: {Markup.Escape(string.Join(", ", Summary.Opsets.Select(o => $"{o.Key} {o.Value}")))}");
        console.MarkupLine($"{Summary.NodeCount} nodes, {Summary.InitializerCount} initializers ({Summary.InitializerBytes:N0} bytes)");
        console.MarkupLine($"shapes: {ValuesTyped}/{Values} node outputs with a shape, {ValuesSized} with a known size (bind symbols with --dim NAME=VALUE)");
        var table = new Table().AddColumn("op").AddColumn(new TableColumn("count").RightAligned());
        foreach (var (op, count) in Summary.OpCounts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(op), count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        console.Write(table);
        foreach (var (pass, rule, count) in Patterns)
        {
            console.MarkupLine($"pattern {Markup.Escape(rule)} ({Markup.Escape(pass)}): {count}");
        }
        MemoryReport.RenderMemory(console, "memory", Memory);
        MemoryReport.RenderRuntimePeak(console, "memory", RuntimePeak);
    }
}
