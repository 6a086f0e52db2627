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
/// With its defaults each step is ONNX Runtime Training's own loop (train step, optimizer step, lazy
/// reset) at ORT's learning rate; the schedule and accumulation options go beyond ORT, as --help says.
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
        var learningRate = new Option<float?>("--lr") { Description = $"Learning rate (default {TrainerOptions.DefaultLearningRate}, ONNX Runtime's: its training API starts every session there and keeps a checkpoint's initial_learning_rate only for a scheduler)." };
        var schedule = new Option<string>("--schedule") { Description = "Beyond ONNX Runtime's default: constant (ORT), or warmup-cosine (linear warm-up over --warmup-steps to --lr, then a half cosine to 0 at the last step).", DefaultValueFactory = _ => "constant" };
        schedule.AcceptOnlyFromAmong("constant", "warmup-cosine");
        var warmup = new Option<int>("--warmup-steps") { Description = "Warm-up steps of --schedule warmup-cosine.", DefaultValueFactory = _ => 0 };
        var accumulation = new Option<int>("--accumulation-steps") { Description = "Beyond ONNX Runtime's loop: train steps per optimizer step (the first after a lazy reset, the others adding to the gradients), averaged before AdamW; 1 is ORT's loop.", DefaultValueFactory = _ => 1 };
        var batchSize = new Option<int>("--batch") { Description = "Batch size of the synthetic batch.", DefaultValueFactory = _ => 4 };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint file (default: 'checkpoint' or '*.ckpt' beside the model)." };
        var command = new Command("train", "Train an on-device training artifact set on ONNX Runtime with the project's custom-op library. By default each step is ONNX Runtime Training 1.19's loop: a train step (the graph's lazy_reset_grad set, so gradients are overwritten), AdamW with the optimizer model's attributes and the checkpoint's step and moments, then a lazy reset; --schedule and --accumulation-steps go beyond it.");
        command.Arguments.Add(model);
        foreach (Option option in new Option[] { data, steps, seed, learningRate, schedule, warmup, accumulation, batchSize, checkpoint }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var dims = common.BindingsFrom(parse);
            int stepCount = parse.GetValue(steps);
            if (stepCount < 1) throw new UsageException("--steps must be at least 1");
            if (parse.GetValue(batchSize) < 1) throw new UsageException("--batch must be at least 1");
            int accumulationSteps = parse.GetValue(accumulation);
            if (accumulationSteps < 1) throw new UsageException("--accumulation-steps must be at least 1");
            int warmupSteps = parse.GetValue(warmup);
            if (warmupSteps < 0) throw new UsageException("--warmup-steps must not be negative");
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
                float rate = parse.GetValue(learningRate) ?? TrainerOptions.DefaultLearningRate;
                ILearningRateSchedule? perStep = parse.GetValue(schedule) == "warmup-cosine" ? new WarmupCosineSchedule(rate, warmupSteps, stepCount) : null;
                using var trainer = new Trainer(artifacts, new TrainerOptions { LearningRate = rate, Schedule = perStep });
                report = TrainingLoop.Run(trainer, _ => batch, stepCount, accumulationSteps, onStep: (i, loss) =>
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
                    ["learning_rate"] = parse.GetValue(learningRate) ?? TrainerOptions.DefaultLearningRate,
                    ["schedule"] = parse.GetValue(schedule),
                    ["accumulation_steps"] = accumulationSteps,
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
