using System.CommandLine;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Sessions;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt train-graph MODEL -o OUT [--loss ce|mse] [--trainable full|lora|lora-fa|none]
/// [--lora-rank R] [--lora-alpha A] [--lora-targets REGEX]`: builds a training graph in ONNX
/// Runtime's gradient vocabulary from a forward model (see <see cref="TrainingGraphBuilder"/>).
/// </summary>
internal static class TrainGraphCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument(description: "Path of a forward ONNX model.");
        var output = new Option<string>("--output", "-o") { Description = "Where to write the training graph.", Required = true };
        var loss = new Option<string>("--loss") { Description = "ce: softmax cross-entropy against an int64 'labels' input; mse: mean squared error against a 'target' input.", DefaultValueFactory = _ => "ce" };
        loss.AcceptOnlyFromAmong("ce", "mse");
        var trainable = new Option<string>("--trainable") { Description = "full, lora, lora-fa (A frozen) or none (only the classification head).", DefaultValueFactory = _ => "full" };
        trainable.AcceptOnlyFromAmong("full", "lora", "lora-fa", "none");
        var rank = new Option<int>("--lora-rank") { Description = "LoRA rank r.", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha; the update is scaled by alpha/r.", DefaultValueFactory = _ => 16 };
        var targets = new Option<string>("--lora-targets") { Description = "Regex over MatMul/Gemm weight, node and bias names choosing the adapted layers.", DefaultValueFactory = _ => ".*" };
        var lossOutput = new Option<string?>("--loss-output") { Description = "The forward output the loss (or head) is put on (default: the first output)." };
        var headClasses = new Option<int?>("--head-classes") { Description = "Add a classification head with this many classes on the output (encoders)." };
        var headPooling = new Option<string>("--head-pooling") { Description = "How a [B, S, D] output is pooled for the head: first (token) or mean.", DefaultValueFactory = _ => "first" };
        headPooling.AcceptOnlyFromAmong("first", "mean");
        var noFuse = new Option<bool>("--no-fuse") { Description = "Differentiate the forward graph as it is, without the fuse pass first." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random initial values (LoRA A, head).", DefaultValueFactory = _ => 42 };

        var command = new Command("train-graph", "Build a training graph (loss, gradients, trainable set) from a forward model.");
        command.Arguments.Add(model);
        foreach (Option option in new Option[] { output, loss, trainable, rank, alpha, targets, lossOutput, headClasses, headPooling, noFuse, seed })
        {
            command.Options.Add(option);
        }
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var options = new TrainingGraphOptions
            {
                Loss = parse.GetValue(loss) == "mse" ? LossKind.MeanSquaredError : LossKind.CrossEntropy,
                Trainable = parse.GetValue(trainable) switch
                {
                    "lora" => TrainableSet.Lora,
                    "lora-fa" => TrainableSet.LoraFa,
                    "none" => TrainableSet.None,
                    _ => TrainableSet.Full,
                },
                LoraRank = parse.GetValue(rank),
                LoraAlpha = parse.GetValue(alpha),
                LoraTargets = parse.GetValue(targets)!,
                Output = parse.GetValue(lossOutput),
                Head = parse.GetValue(headClasses) is { } classes
                    ? new ClassificationHeadOptions(classes, parse.GetValue(headPooling) == "mean" ? HeadPooling.Mean : HeadPooling.FirstToken)
                    : null,
                Fusion = parse.GetValue(noFuse) ? null : TrainingGraphOptions.DefaultFusion,
                Seed = parse.GetValue(seed),
                Dims = common.BindingsFrom(parse),
            };
            Validate(options);
            OnnxModel forward = OnnxModel.Load(parse.GetValue(model)!);
            _ = common.BindingsFor(parse, forward);
            TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, options);
            string path = parse.GetValue(output)!;
            RuntimeLoadCheck.RequireLoadsLikeItsInput(result.Model, forward, "training graph");
            result.Model.Save(path);
            Report(io, parse.GetValue(common.Json), forward, path, result);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Validate(TrainingGraphOptions options)
    {
        if (options.LoraRank < 1) throw new UsageException("--lora-rank must be at least 1");
        if (options.Head is { Classes: < 1 }) throw new UsageException("--head-classes must be at least 1");
        try
        {
            _ = new Regex(options.LoraTargets);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--lora-targets is not a valid regex: {e.Message}");
        }
    }

    private static void Report(CommandIO io, bool json, OnnxModel forward, string path, TrainingGraphResult result)
    {
        var opCounts = result.Model.Graph.Nodes
            .GroupBy(n => n.Domain.Length == 0 ? n.OpType : $"{n.Domain}:{n.OpType}")
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        if (json)
        {
            var counts = new JsonObject();
            foreach (var group in opCounts) counts[group.Key] = group.Count();
            var report = new JsonObject
            {
                ["input"] = forward.FileName,
                ["output"] = path,
                ["loss"] = result.Loss,
                ["parameters"] = new JsonArray([.. result.Parameters.Select(p => (JsonNode?)JsonValue.Create(p))]),
                ["gradients"] = new JsonArray([.. result.Gradients.Select(g => (JsonNode?)JsonValue.Create(g))]),
                ["parameters_without_gradient"] = new JsonArray([.. result.ParametersWithoutGradient.Select(p => (JsonNode?)JsonValue.Create(p))]),
                ["lora_adapters"] = result.Adapters.Count,
                ["node_count"] = result.Model.Graph.Nodes.Count,
                ["op_counts"] = counts,
            };
            io.Out.WriteLine(report.ToJsonString(JsonOutput.Options));
            return;
        }
        io.Out.WriteLine($"wrote {path}: loss '{result.Loss}', {result.Parameters.Count} parameters, {result.Adapters.Count} LoRA adapters, {result.Model.Graph.Nodes.Count} nodes");
        foreach (string p in result.ParametersWithoutGradient)
        {
            io.Error.WriteLine($"warning: the loss does not depend on '{p}'; its gradient output is zero");
        }
    }
}
