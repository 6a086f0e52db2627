using System.Text.Json.Nodes;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Patterns;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>The JSON and terminal forms of a memory estimate and of a pass result, shared by inspect, fuse and rewrite.</summary>
internal static class MemoryReport
{
    /// <summary>`{saved_activation_bytes, peak_bytes, ...}`; saved bytes are null for a graph without a backward pass or with unknown sizes.</summary>
    public static JsonObject ToJson(MemoryEstimate estimate)
    {
        var byKind = new JsonObject();
        foreach (var (kind, bytes) in estimate.ByKind.OrderBy(k => k.Key)) byKind[ActivationKinds.Name(kind)] = bytes;
        return new JsonObject
        {
            ["saved_activation_bytes"] = estimate.IsTrainingGraph ? estimate.SavedActivationBytes : null,
            ["peak_bytes"] = estimate.PeakBytes,
            ["training_graph"] = estimate.IsTrainingGraph,
            ["saved_tensors"] = estimate.Saved.Count,
            ["unknown_sizes"] = estimate.UnknownSizes,
            ["by_kind"] = byKind,
            ["unbound_symbols"] = new JsonArray([.. estimate.UnboundSymbols.Select(symbol => (JsonNode?)JsonValue.Create(symbol))]),
        };
    }

    /// <summary>Adds `runtime_arena_peak_bytes` (and why it is null, if it is) to a memory object; nothing when not asked for.</summary>
    public static JsonObject WithRuntimePeak(JsonObject memory, RuntimeArenaPeakResult? peak)
    {
        if (peak is not null)
        {
            memory["runtime_arena_peak_bytes"] = peak.Bytes;
            memory["runtime_arena_peak_problem"] = peak.Problem;
        }
        return memory;
    }

    public static void RenderRuntimePeak(IAnsiConsole console, string label, RuntimeArenaPeakResult? peak)
    {
        if (peak is null) return;
        string text = peak.Bytes is { } b ? $"{b:N0} bytes" : $"unknown ({peak.Problem})";
        console.MarkupLine($"{Markup.Escape(label)}: ONNX Runtime arena peak (estimated) {Markup.Escape(text)}");
    }

    public static JsonArray Rewrites(PassResult result) => new(result.Rewrites.Select(r => (JsonNode?)new JsonObject
    {
        ["pass"] = r.Pass,
        ["rule"] = r.Rule,
        ["node"] = r.Node,
        ["saved_bytes"] = r.SavedBytes,
        ["note"] = r.Note,
    }).ToArray());

    public static JsonArray Skipped(PassResult result) => new(result.Skipped.Select(s => (JsonNode?)new JsonObject
    {
        ["pass"] = s.Pass,
        ["rule"] = s.Rule,
        ["node"] = s.Node,
        ["reason"] = s.Reason,
    }).ToArray());

    public static string Bytes(long? bytes, IReadOnlyList<string> unboundSymbols) => bytes is { } b
        ? $"{b:N0}"
        : unboundSymbols.Count > 0
            ? $"unknown (bind {string.Join(", ", unboundSymbols)} with --dim NAME=VALUE)"
            : "unknown (some tensor sizes could not be inferred)";

    public static IAnsiConsole Console(TextWriter writer) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No });

    public static void RenderResult(IAnsiConsole console, PassResult result)
    {
        if (result.Rewrites.Count > 0)
        {
            var table = new Table().AddColumn("pass").AddColumn("rule").AddColumn("node").AddColumn(new TableColumn("saved bytes").RightAligned());
            foreach (RewriteRecord r in result.Rewrites)
            {
                table.AddRow(Markup.Escape(r.Pass), Markup.Escape(r.Rule), Markup.Escape(r.Node), r.SavedBytes is { } b ? $"{b:N0}" : "?");
            }
            console.Write(table);
        }
        else
        {
            console.MarkupLine("no rewrites");
        }
        // What each rewrite did (MS-LN: what was folded, what stays explicit and why).
        foreach (RewriteRecord r in result.Rewrites.Where(r => r.Note is not null))
        {
            console.MarkupLine($"{Markup.Escape(r.Pass)} {Markup.Escape(r.Node)}: {Markup.Escape(r.Note!)}");
        }
        foreach (SkipRecord s in result.Skipped)
        {
            console.MarkupLine($"skipped {Markup.Escape(s.Pass)} {Markup.Escape(s.Node)}: {Markup.Escape(s.Reason)}");
        }
    }

    public static void RenderMemory(IAnsiConsole console, string label, MemoryEstimate estimate)
    {
        string saved = estimate.IsTrainingGraph ? Bytes(estimate.SavedActivationBytes, estimate.UnboundSymbols) : "n/a (no backward pass)";
        console.MarkupLine($"{Markup.Escape(label)}: saved activations {Markup.Escape(saved)}, estimated peak {Markup.Escape(Bytes(estimate.PeakBytes, estimate.UnboundSymbols))}");
        if (estimate.IsTrainingGraph && estimate.SavedActivationBytes is not null)
        {
            foreach (var (kind, bytes) in estimate.ByKind.OrderBy(k => k.Key))
            {
                console.MarkupLine($"  {ActivationKinds.Name(kind)}: {bytes:N0}");
            }
        }
    }
}
