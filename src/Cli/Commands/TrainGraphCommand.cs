using System.CommandLine;
using System.Text.Json.Nodes;
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
        var graphOptions = new TrainingGraphOptionSet();

        var command = new Command("train-graph", "Build a training graph (loss, gradients, trainable set) from a forward model.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        graphOptions.AddTo(command);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            TrainingGraphOptions options = graphOptions.From(parse, common.BindingsFrom(parse));
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
