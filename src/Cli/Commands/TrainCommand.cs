using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt train TRAINING_MODEL`: trains an on-device training artifact set (training_model.onnx
/// with its checkpoint, optimizer and eval models beside it) on stock ONNX Runtime with the
/// project's library, and reports the loss per step, the median step time and the measured peak.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument("TRAINING_MODEL", "training_model.onnx of an artifact set, or its folder.");
        var data = new Option<string>("--data") { Description = "A JSON data file (see docs) or 'synthetic': one fixed random batch drawn from the input shapes.", DefaultValueFactory = _ => "synthetic" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic batch.", DefaultValueFactory = _ => 0 };
        var learningRate = new Option<float?>("--lr") { Description = $"Learning rate (default: the checkpoint's optimizer state, else {DefaultLearningRate})." };
        var batchSize = new Option<int>("--batch") { Description = "Batch size of the synthetic batch.", DefaultValueFactory = _ => 4 };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint file (default: 'checkpoint' or '*.ckpt' beside the model)." };
        var command = new Command("train", "Train an on-device training artifact set on ONNX Runtime with the project's custom-op library.");
        command.Arguments.Add(model);
        foreach (Option option in new Option[] { data, steps, seed, learningRate, batchSize, checkpoint }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var dims = common.BindingsFrom(parse);
            int stepCount = parse.GetValue(steps);
            if (stepCount < 1) throw new UsageException("--steps must be at least 1");
            if (parse.GetValue(batchSize) < 1) throw new UsageException("--batch must be at least 1");
            string path = parse.GetValue(model)!;

            TrainingArtifacts artifacts = Load(path, parse.GetValue(checkpoint));
            dims.RequireDeclaredIn(artifacts.Symbols, artifacts.TrainingModelPath);
            string dataSource = parse.GetValue(data)!;
            using TrainingBatch batch = dataSource == "synthetic"
                ? artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = parse.GetValue(batchSize), Seed = parse.GetValue(seed), Dims = dims.Values })
                : TrainingDataFile.Read(dataSource, artifacts.Layout.UserInputs);
            bool json = parse.GetValue(common.Json);
            TrainingReport report;
            try
            {
                using var trainer = new Trainer(artifacts, new TrainerOptions { LearningRate = parse.GetValue(learningRate) ?? CheckpointLearningRate(artifacts) ?? DefaultLearningRate });
                report = TrainingLoop.Run(trainer, _ => batch, stepCount, onStep: (i, loss) =>
                {
                    if (!json) io.Out.WriteLine($"step {i + 1,4}  loss {loss:G7}");
                });
            }
            catch (OnnxRuntimeException e)
            {
                throw new UnsupportedModelException(artifacts.TrainingModelPath, $"ONNX Runtime cannot run it: {e.Message}");
            }
            if (json)
            {
                io.Out.WriteLine(new JsonObject
                {
                    ["model"] = artifacts.TrainingModelPath,
                    ["checkpoint"] = artifacts.CheckpointPath,
                    ["data"] = dataSource,
                    ["steps"] = stepCount,
                    ["losses"] = new JsonArray(report.Losses.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
                    ["median_step_ms"] = report.MedianStepMilliseconds,
                    ["measured_peak_bytes"] = report.MeasuredPeakBytes,
                    ["parameter_bytes"] = report.ParameterBytes,
                }.ToJsonString(JsonOutput.Options));
            }
            else
            {
                io.Out.WriteLine($"median step {report.MedianStepMilliseconds:F2} ms, measured peak (arena MaxInUse) {report.MeasuredPeakBytes:N0} bytes, parameters {report.ParameterBytes:N0} bytes");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The command's learning rate when neither --lr nor the checkpoint gives one. ONNX Runtime's
    /// library default (1e-3, which the Trainer keeps for API users) barely moves a LoRA adapter in
    /// a short run; the command's runs are short by design (a smoke test of an artifact set), so it
    /// starts from 1e-2, the usual order for LoRA/AdamW fine-tuning.
    /// </summary>
    public const float DefaultLearningRate = 1e-2f;

    private static float? CheckpointLearningRate(TrainingArtifacts artifacts) =>
        artifacts.Checkpoint.OptimizerGroups.FirstOrDefault() is { InitialLearningRate: > 0 } group ? group.InitialLearningRate : null;

    private static TrainingArtifacts Load(string path, string? checkpoint)
    {
        try
        {
            return TrainingArtifacts.Load(path, checkpoint);
        }
        catch (FileNotFoundException e)
        {
            // The model itself is missing, or a file the set needs beside it (the checkpoint): the
            // one-line reason names the model either way, and says which file is missing.
            bool modelMissing = e.FileName is null || Path.GetFullPath(e.FileName) == Path.GetFullPath(path);
            throw new InvalidModelException(modelMissing ? e.FileName ?? path : path, modelMissing ? "no such file" : e.Message.TrimEnd('.'));
        }
        catch (InvalidDataException e)
        {
            // The runtime's messages already start with the offending file.
            throw new InvalidModelException(path, e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message[(path.Length + 1)..].Trim() : e.Message);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(path, $"ONNX Runtime cannot load it: {e.Message}");
        }
    }
}
