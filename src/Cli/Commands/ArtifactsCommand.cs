using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Artifacts;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt artifacts MODEL -o DIR [--trainable ...] [--lora-*] [--loss ...] [--rewrite]`: an ONNX
/// Runtime Training 1.19 artifact set from a forward model (<see cref="ArtifactGenerator"/>); with
/// --rewrite the memory-efficient set. The folder is written whole or not at all.
/// </summary>
internal static class ArtifactsCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument(description: "Path of a forward ONNX model.");
        var output = new Option<string>("--output", "-o") { Description = "The folder to write the set into (new or empty).", Required = true };
        var graphOptions = new TrainingGraphOptionSet();
        var rewrite = new Option<bool>("--rewrite") { Description = "Write the memory-efficient set: training_model.onnx rewritten with the memory passes (needs libonnxmemopt_ops in the host that trains it)." };
        var passes = new Option<string?>("--passes") { Description = "With --rewrite: the passes, as rewrite's --passes (default: all that apply)." };
        var foldTrainable = new Option<bool>("--fold-trainable-affine") { Description = "With --rewrite: let msln/msrms rewrite norms whose γ/β are trainable." };
        var learningRate = new Option<float>("--initial-lr") { Description = "The optimizer state's initial_learning_rate (ONNX Runtime's schedulers start from it).", DefaultValueFactory = _ => TrainerOptions.DefaultLearningRate };
        var noOptimizerState = new Option<bool>("--no-optimizer-state") { Description = "Write parameters only into the checkpoint, as ONNX Runtime's generator did (ORT starts a fresh optimizer either way)." };

        var command = new Command("artifacts", "Generate an ONNX Runtime Training 1.19 artifact set (training_model.onnx, eval_model.onnx, optimizer_model.onnx, checkpoint) from a forward model, as onnxruntime.training.artifacts.generate_artifacts did.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        graphOptions.AddTo(command);
        foreach (Option option in new Option[] { rewrite, passes, foldTrainable, learningRate, noOptimizerState })
        {
            command.Options.Add(option);
        }
        command.Options.Add(GeluTableOption.Create());
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var dims = common.BindingsFrom(parse);
            bool memoryEfficient = parse.GetValue(rewrite);
            if (!memoryEfficient && (parse.GetValue(passes) is not null || parse.GetValue(foldTrainable)))
            {
                throw new UsageException("--passes and --fold-trainable-affine apply to --rewrite only");
            }
            var options = new ArtifactOptions
            {
                Training = graphOptions.From(parse, dims),
                RewritePasses = memoryEfficient ? RewriteCommand.ParsePasses(parse.GetValue(passes)) : [],
                Rewrite = new Patterns.RewriteOptions { FoldTrainableAffine = parse.GetValue(foldTrainable), GeluTable = GeluTableOption.Value(parse) },
                InitialLearningRate = parse.GetValue(learningRate),
                WithOptimizerState = !parse.GetValue(noOptimizerState),
            };
            string folder = parse.GetValue(output)!;
            OnnxModel forward = OnnxModel.Load(parse.GetValue(model)!);
            GeneratedArtifactSet generated = ArtifactGenerator.Generate(forward, options);
            ArtifactOutput.Write(generated.Set, folder);
            Report(io, parse.GetValue(common.Json), forward, folder, generated, options);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Report(CommandIO io, bool json, OnnxModel forward, string folder, GeneratedArtifactSet generated, ArtifactOptions options)
    {
        ArtifactSet set = generated.Set;
        var trainable = set.Checkpoint.TrainableParameters.Select(t => t.Name).ToList();
        if (json)
        {
            var report = new JsonObject
            {
                ["input"] = forward.FileName,
                ["output"] = folder,
                ["files"] = new JsonArray(set.FileNames.Select(f => (JsonNode?)JsonValue.Create(f)).ToArray()),
                ["training_inputs"] = new JsonArray(set.TrainingModel.Proto.Graph.Input.Select(i => (JsonNode?)JsonValue.Create(i.Name)).ToArray()),
                ["trainable_parameters"] = new JsonArray(trainable.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
                ["parameters_without_gradient"] = new JsonArray(generated.TrainingGraph.ParametersWithoutGradient.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
                ["lora_adapters"] = generated.TrainingGraph.Adapters.Count,
                ["optimizer_state"] = options.WithOptimizerState,
                ["rewritten"] = generated.Rewrite is not null,
            };
            if (generated.Rewrite is { } rewrite)
            {
                report["passes"] = new JsonArray(options.RewritePasses.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray());
                report["rewrites"] = MemoryReport.Rewrites(rewrite.Passes);
                report["skipped"] = MemoryReport.Skipped(rewrite.Passes);
            }
            io.Out.WriteLine(report.ToJsonString(JsonOutput.Options));
            return;
        }
        io.Out.WriteLine($"wrote {folder}: {string.Join(", ", set.FileNames)}; {trainable.Count} trainable parameters, {generated.TrainingGraph.Adapters.Count} LoRA adapters"
            + (generated.Rewrite is { } r ? $", {r.Passes.Rewrites.Count} memory rewrites" : ""));
        foreach (string p in generated.TrainingGraph.ParametersWithoutGradient)
        {
            io.Error.WriteLine($"warning: the loss does not depend on '{p}'; its gradient is zero");
        }
    }
}

/// <summary>Writes a set for a command: an output folder that cannot take it is a usage error (exit 2).</summary>
internal static class ArtifactOutput
{
    public static void Write(ArtifactSet set, string folder)
    {
        try
        {
            set.Write(folder);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message.Replace(" (Parameter 'folder')", "", StringComparison.Ordinal));
        }
    }
}
