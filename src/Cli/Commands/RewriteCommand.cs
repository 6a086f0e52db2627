using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Artifacts;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Rewriting;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt rewrite MODEL -o OUT [--passes LIST] [--report FILE] [--fold-trainable-affine]`:
/// applies the passes in the order fuse, regelu2, resilu2, msln, msrms, recompute, leaf-order (default: all; each applies
/// where its patterns occur) and reports each substitution, each refusal with its reason, and the
/// memory estimate before and after. `--passes none` serialises the model back unchanged, byte for byte.
/// Given an artifact set (a folder, or --artifacts) it rewrites the set's training model and writes
/// the whole set to the output folder, checkpoint and eval model changed where folding changed
/// parameters (<see cref="ArtifactSetRewriter"/>); the input set is only read.
/// </summary>
internal static class RewriteCommand
{
    public static readonly string[] KnownPasses = [.. MemoryPasses.All];

    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument(description: "Path of an ONNX model, or of an artifact set's folder.");
        var output = new Option<string>("--output", "-o") { Description = "Where to write the rewritten model (for an artifact set: a new or empty folder).", Required = true };
        var artifacts = new Option<bool>("--artifacts") { Description = "MODEL is an artifact set's training_model.onnx: rewrite the whole set (implied when MODEL is a folder)." };
        var passes = new Option<string>("--passes") { Description = "Comma-separated passes: fuse, regelu2, resilu2, msln, msrms, recompute, leaf-order, or none (default: all that apply)." };
        var report = new Option<string>("--report") { Description = "Also write the JSON report to this file." };
        var foldTrainable = new Option<bool>("--fold-trainable-affine") { Description = "Let msln/msrms rewrite norms whose γ/β are trainable (reparameterised; reported)." };
        var runtimePeak = CommonOptions.RuntimePeakOption();
        var calibrationData = new Option<string[]>("--calibration-data") { Description = "Calibrated tables: a batch to calibrate on, in train's --data JSON format (repeatable; default: --calibration-batches seeded random batches).", Arity = ArgumentArity.ZeroOrMore };
        var calibrationBatches = new Option<int>("--calibration-batches") { Description = "Calibrated tables without --calibration-data: this many random batches (integer inputs below --int-bound, masks all 1).", DefaultValueFactory = _ => 4 };
        var intBound = new Option<int>("--int-bound") { Description = "Random calibration batches: integer inputs are drawn from [0, N) (token ids, labels).", DefaultValueFactory = _ => 2 };
        var command = new Command("rewrite", "Rewrite a training graph to keep less memory for the backward pass.");
        command.Arguments.Add(model);
        command.Options.Add(runtimePeak);
        command.Options.Add(output);
        command.Options.Add(passes);
        command.Options.Add(report);
        command.Options.Add(foldTrainable);
        command.Options.Add(artifacts);
        command.Options.Add(GeluTableOption.Create());
        command.Options.Add(SiluTableOption.Create());
        command.Options.Add(calibrationData);
        command.Options.Add(calibrationBatches);
        command.Options.Add(intBound);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            string[] selected = ParsePasses(parse.GetValue(passes));
            var options = SiluTableOption.Options(parse, new RewriteOptions { FoldTrainableAffine = parse.GetValue(foldTrainable) });
            string input = parse.GetValue(model)!;
            if (Directory.Exists(input) || parse.GetValue(artifacts))
            {
                return RewriteSet(io, parse.GetValue(common.Json), input, parse.GetValue(output)!, selected, training => common.BindingsFor(parse, training), options, parse.GetValue(report));
            }
            OnnxModel loaded = OnnxModel.Load(input);
            DimBindings dims = common.BindingsFor(parse, loaded);
            _ = loaded.Graph; // the IR is built over the document: what is saved is what the IR holds
            ModelRewriteReport rewritten;
            try
            {
                rewritten = ModelRewriter.Rewrite(loaded, new ModelRewriteRequest
                {
                    Passes = selected,
                    Options = options,
                    Dims = dims,
                    CalibrationDataFiles = parse.GetValue(calibrationData) ?? [],
                    CalibrationBatches = parse.GetValue(calibrationBatches),
                    CalibrationIntegerBound = parse.GetValue(intBound),
                    RuntimePeak = parse.GetValue(runtimePeak),
                });
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(ModelRewriteRequest.CalibrationBatches))
            {
                // Only a rewrite that calibrates needs the batches, as before the call moved into the library.
                throw new UsageException("--calibration-batches must be at least 1");
            }
            (PassResult result, MemoryEstimate before, MemoryEstimate after, IReadOnlyList<CalibratedActivation> calibrated, RuntimeArenaPeakResult? runtimeBefore, RuntimeArenaPeakResult? runtimeAfter) = rewritten;
            string path = parse.GetValue(output)!;
            loaded.Save(path);
            var json = new JsonObject
            {
                ["input"] = loaded.FileName,
                ["output"] = path,
                ["passes"] = new JsonArray(selected.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
                ["fold_trainable_affine"] = options.FoldTrainableAffine,
                ["gelu_table"] = options.GeluTable,
                ["silu_table"] = options.SiluTable,
                ["calibrated"] = CalibrationJson(calibrated),
                ["rewrites"] = MemoryReport.Rewrites(result),
                ["skipped"] = MemoryReport.Skipped(result),
                ["memory_before"] = MemoryReport.WithRuntimePeak(MemoryReport.ToJson(before), runtimeBefore),
                ["memory_after"] = MemoryReport.WithRuntimePeak(MemoryReport.ToJson(after), runtimeAfter),
            };
            string text = json.ToJsonString(JsonOutput.Options);
            if (parse.GetValue(report) is { } reportPath) WriteReport(reportPath, text);
            if (parse.GetValue(common.Json))
            {
                io.Out.WriteLine(text);
            }
            else
            {
                var console = MemoryReport.Console(io.Out);
                console.MarkupLine($"wrote {Markup.Escape(path)} ({(selected.Length == 0 ? "no passes applied" : string.Join(", ", selected))})");
                MemoryReport.RenderResult(console, result);
                foreach (CalibratedActivation c in calibrated)
                {
                    console.MarkupLine(Markup.Escape(FormattableString.Invariant(
                        $"calibrated {c.Node}: thresholds {string.Join(", ", c.Table.Thresholds.Select(t => t.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)))}, levels {string.Join(", ", c.Table.Levels.Select(l => l.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)))}; expected dX cosine {c.Replaced.Cosine:F4} → {c.Calibrated.Cosine:F4} over {c.Samples} inputs")));
                }
                MemoryReport.RenderMemory(console, "before", before);
                MemoryReport.RenderMemory(console, "after", after);
                MemoryReport.RenderRuntimePeak(console, "before", runtimeBefore);
                MemoryReport.RenderRuntimePeak(console, "after", runtimeAfter);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>`rewrite` of an artifact set: the library rewrites it, the command renders what changed.</summary>
    private static int RewriteSet(CommandIO io, bool asJson, string input, string folder, string[] selected, Func<OnnxModel, DimBindings> bind, RewriteOptions options, string? reportPath)
    {
        ArtifactSet set = LoadSet(input);
        DimBindings dims = bind(set.TrainingModel);
        MemoryEstimate before = MemoryEstimate.Of(set.TrainingModel, dims);
        ArtifactRewrite rewrite = ArtifactSetRewriter.Rewrite(set, selected, dims, options);
        MemoryEstimate after = MemoryEstimate.Of(rewrite.Set.TrainingModel, dims);
        ArtifactOutput.Write(rewrite.Set, folder);
        var json = new JsonObject
        {
            ["input"] = set.Source,
            ["output"] = folder,
            ["passes"] = new JsonArray(selected.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            ["fold_trainable_affine"] = options.FoldTrainableAffine,
            ["gelu_table"] = options.GeluTable,
            ["rewrites"] = MemoryReport.Rewrites(rewrite.Passes),
            ["skipped"] = MemoryReport.Skipped(rewrite.Passes),
            ["memory_before"] = MemoryReport.ToJson(before),
            ["memory_after"] = MemoryReport.ToJson(after),
            ["artifacts"] = new JsonObject
            {
                ["files"] = new JsonArray(rewrite.Set.FileNames.Select(f => (JsonNode?)JsonValue.Create(f)).ToArray()),
                ["checkpoint_rewritten"] = rewrite.CheckpointRewritten,
                ["eval_model_rewritten"] = rewrite.EvalModelRewritten,
                ["dropped_frozen_parameters"] = new JsonArray(rewrite.DroppedFrozenParameters.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            },
        };
        string text = json.ToJsonString(JsonOutput.Options);
        if (reportPath is not null) WriteReport(reportPath, text);
        if (asJson)
        {
            io.Out.WriteLine(text);
            return ExitCodes.Success;
        }
        var console = MemoryReport.Console(io.Out);
        console.MarkupLine(Markup.Escape($"wrote the artifact set {folder} ({(selected.Length == 0 ? "no passes applied" : string.Join(", ", selected))}): "
            + $"checkpoint {(rewrite.CheckpointRewritten ? "rewritten" : "as it was")}, eval model {(rewrite.EvalModelRewritten ? "rewritten" : "as it was")}"));
        MemoryReport.RenderResult(console, rewrite.Passes);
        MemoryReport.RenderMemory(console, "before", before);
        MemoryReport.RenderMemory(console, "after", after);
        return ExitCodes.Success;
    }

    private static ArtifactSet LoadSet(string input)
    {
        try
        {
            return ArtifactSet.Load(input);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidModelException(e.FileName ?? input, "no such file (an artifact set needs training_model.onnx, its checkpoint and its optimizer model)");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(input, e.Message);
        }
    }


    /// <summary>The --report file, written through a temporary file and a rename: never half a report.</summary>
    private static void WriteReport(string path, string text) =>
        ModelWriter.WriteAtomically(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text + Environment.NewLine)));

    private static JsonArray CalibrationJson(IReadOnlyList<CalibratedActivation> calibrated) =>
        new([.. calibrated.Select(c => (JsonNode?)new JsonObject
        {
            ["node"] = c.Node,
            ["input"] = c.Input,
            ["samples"] = c.Samples,
            ["thresholds"] = new JsonArray([.. c.Table.Thresholds.Select(t => (JsonNode?)JsonValue.Create(t))]),
            ["levels"] = new JsonArray([.. c.Table.Levels.Select(l => (JsonNode?)JsonValue.Create(l))]),
            ["expected_dx_cosine_replaced"] = JsonOutput.Number(c.Replaced.Cosine),
            ["expected_dx_cosine"] = JsonOutput.Number(c.Calibrated.Cosine),
        })]);

    /// <summary>The passes a --passes value names, in pipeline order (null: all; "none": none).</summary>
    internal static string[] ParsePasses(string? list)
    {
        if (list is null)
        {
            return KnownPasses;
        }
        string[] names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names is ["none"])
        {
            return [];
        }
        foreach (string name in names)
        {
            if (!KnownPasses.Contains(name))
            {
                throw new UsageException($"unknown pass '{name}'; choose from {string.Join(", ", KnownPasses)} or none");
            }
        }
        // Passes run in pipeline order whatever order they were listed in: fusion feeds the others.
        return KnownPasses.Where(names.Contains).ToArray();
    }
}
