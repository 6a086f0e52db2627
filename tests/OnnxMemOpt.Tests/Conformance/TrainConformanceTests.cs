using System.Text.Json;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Runtime;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Conformance;

/// <summary>
/// `onnxmemopt train` with its defaults against ONNX Runtime Training 1.19.2 on the same batch:
/// ORT's own artifact sets in ../shared, checkpoints this project writes, and what ORT does with a
/// checkpoint's optimizer state.
/// </summary>
public class TrainConformanceTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> SharedSets => new() { "ort-training/mlp-artifacts", "ort-training/lora-mlp" };

    [SkippableTheory]
    [MemberData(nameof(SharedSets))]
    public void TenLossesOfTrainWithItsDefaultsEqualOrtTrainings(string folder)
    {
        OrtTraining119.Require();
        string path = SharedTestData.RequireFile(folder);
        TrainingArtifacts artifacts = TrainingArtifacts.Load(path);
        using var temp = new TempDirectory();
        string feed = temp.File("batch.json");
        using (TrainingBatch batch = ReferenceBatch(artifacts))
        {
            FeedFile.Write(feed, batch);
        }

        OrtTraining119.Run reference = OrtTraining119.Train(OrtTraining119.ArtifactFiles.Of(artifacts), feed, steps: 10);
        CliRunner.Result result = CliRunner.Run("train", path, "--data", feed, "--steps", "10", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        double[] losses = json.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray();

        output.WriteLine($"{folder}: step | ORT Training 1.19.2 | onnxmemopt train | relative difference");
        for (int i = 0; i < 10; i++)
        {
            output.WriteLine($"{i + 1} | {reference.Losses[i]:R} | {losses[i]:R} | {Relative(losses[i], reference.Losses[i]):E2}");
        }
        Assert.Equal(10, reference.Losses.Count);
        Assert.Equal(10, losses.Length);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(Relative(losses[i], reference.Losses[i]) <= Tolerance, $"step {i + 1}: {losses[i]} vs ORT's {reference.Losses[i]}");
        }
        // Training moved: the comparison is of a real trajectory, not of ten copies of the first loss.
        Assert.True(reference.Losses[^1] < reference.Losses[0], $"ORT's loss did not fall: {string.Join(", ", reference.Losses)}");
    }

    [SkippableFact]
    public void OrtTrainsFromWrittenCheckpointsAsFromItsOwn()
    {
        OrtTraining119.Require();
        TrainingArtifacts lora = ArtifactData.Lora();
        using var temp = new TempDirectory();
        string feed = temp.File("batch.json");
        using TrainingBatch batch = ArtifactData.Synthetic(lora, 4, seed: 3);
        FeedFile.Write(feed, batch);
        string rewritten = temp.File("checkpoint");
        OrtCheckpointWriter.Write(lora.Checkpoint, rewritten);

        var files = OrtTraining119.ArtifactFiles.Of(lora);
        OrtTraining119.Run original = OrtTraining119.Train(files, feed, steps: 5);
        OrtTraining119.Run fromWritten = OrtTraining119.Train(files with { Checkpoint = rewritten }, feed, steps: 5);
        Assert.Equal(original.Losses, fromWritten.Losses);
    }

    [SkippableFact]
    public void OptimizerStateStepAndMomentsCountButItsLearningRateDoesNotInOrtAndHere()
    {
        // A checkpoint whose optimizer group says step 40, initial_learning_rate 0.05 and carries
        // non-zero moments. ONNX Runtime resumes the step and the moments and still trains at
        // 1e-3 (only a scheduler would read initial_lr); the trainer's defaults must do the same.
        OrtTraining119.Require();
        TrainingArtifacts lora = ArtifactData.Lora();
        OrtCheckpoint plain = lora.Checkpoint;
        var random = new Random(5);
        var group = new OptimizerGroupState("group0", Step: 40, InitialLearningRate: 0.05f, plain.TrainableParameters.Select(p => new ParameterMoments(p.Name,
        [
            new CheckpointTensor("momentum0", p.Dims, p.Data.Select(_ => (float)(random.NextDouble() - 0.5) * 0.1f).ToArray()),
            new CheckpointTensor("momentum1", p.Dims, p.Data.Select(_ => (float)random.NextDouble() * 0.01f).ToArray()),
        ])).ToList());
        var resumed = new OrtCheckpoint
        {
            Version = plain.Version,
            TrainableParameters = plain.TrainableParameters,
            FrozenParameters = plain.FrozenParameters,
            OptimizerGroups = [group],
            Properties = plain.Properties,
        };
        using var temp = new TempDirectory();
        foreach (string file in Directory.EnumerateFiles(Path.GetDirectoryName(lora.TrainingModelPath)!).Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)))
        {
            File.Copy(file, temp.File(Path.GetFileName(file)));
        }
        OrtCheckpointWriter.Write(resumed, temp.File("checkpoint"));
        TrainingArtifacts copy = TrainingArtifacts.Load(temp.Path);
        string feed = temp.File("batch.json");
        using TrainingBatch batch = ArtifactData.Synthetic(lora, 4, seed: 3);
        FeedFile.Write(feed, batch);

        OrtTraining119.Run reference = OrtTraining119.Train(OrtTraining119.ArtifactFiles.Of(copy), feed, steps: 5);
        OrtTraining119.Run fromScratch = OrtTraining119.Train(OrtTraining119.ArtifactFiles.Of(lora), feed, steps: 5);
        using var trainer = new Trainer(copy, ArtifactData.Options());
        IReadOnlyList<float> ours = TrainingLoop.Run(trainer, _ => batch, steps: 5).Losses;
        using var fastTrainer = new Trainer(copy, ArtifactData.Options(0.05f));
        IReadOnlyList<float> atCheckpointRate = TrainingLoop.Run(fastTrainer, _ => batch, steps: 5).Losses;

        Assert.Equal(0.05f, trainer.CheckpointInitialLearningRate);
        Assert.Equal(TrainerOptions.DefaultLearningRate, trainer.BaseLearningRate);
        for (int i = 0; i < 5; i++)
        {
            Assert.True(Relative(ours[i], reference.Losses[i]) <= Tolerance, $"step {i + 1}: {ours[i]} vs ORT's {reference.Losses[i]}");
        }
        // The state was read: from step 40 with those moments the trajectory differs from a fresh start,
        // and it is not the trajectory at the checkpoint's initial learning rate.
        Assert.True(Relative(reference.Losses[^1], fromScratch.Losses[^1]) > 1e-3, $"{reference.Losses[^1]} vs fresh {fromScratch.Losses[^1]}");
        Assert.True(Relative(atCheckpointRate[^1], reference.Losses[^1]) > 1e-3, $"{atCheckpointRate[^1]} vs {reference.Losses[^1]}");
    }

    [SkippableFact]
    public void AccumulatedTrainStepsAddUpAsInOrt()
    {
        // Three train steps on three batches per optimizer step, no lazy reset between them: the
        // first overwrites the buffers, the next two add, and AdamW applies the sum (scale 1).
        // Different batches make the sum differ from any one step's gradient.
        OrtTraining119.Require();
        TrainingArtifacts lora = ArtifactData.Lora();
        using var temp = new TempDirectory();
        var batches = Enumerable.Range(0, 3).Select(i => ArtifactData.Synthetic(lora, 4, seed: 20 + i)).ToList();
        try
        {
            var feeds = batches.Select((b, i) =>
            {
                string file = temp.File($"batch{i}.json");
                FeedFile.Write(file, b);
                return file;
            }).ToList();
            OrtTraining119.Run reference = OrtTraining119.Train(OrtTraining119.ArtifactFiles.Of(lora), string.Join(',', feeds), steps: 3, trainStepsPerUpdate: 3);

            using var trainer = new Trainer(lora, ArtifactData.Options());
            var ours = new List<float>();
            for (int step = 0; step < 3; step++)
            {
                for (int micro = 0; micro < 3; micro++)
                {
                    ours.Add(trainer.Step(batches[micro]));
                }
                trainer.OptimizerStep(gradientScale: 1f);
                trainer.LazyResetGrad();
            }
            Assert.Equal(9, reference.Losses.Count);
            for (int i = 0; i < 9; i++)
            {
                Assert.True(Relative(ours[i], reference.Losses[i]) <= Tolerance, $"train step {i + 1}: {ours[i]} vs ORT's {reference.Losses[i]}");
            }
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }

    /// <summary>
    /// A seeded synthetic batch of 256 (labels 0 or 1, valid for any classifier). Not ORT's own 2-sample MLP
    /// batch, nor 4 samples: the MLP memorises those in a few steps and its loss falls below 1e-4,
    /// where a float32 cross-entropy keeps two or three significant digits, so a relative comparison
    /// there measures rounding, not training (measured on ORT's batch: 1e-8 at step 1, 2e-2 at step
    /// 10, where the loss is 5e-6 and the absolute difference 1.2e-7).
    /// </summary>
    private static TrainingBatch ReferenceBatch(TrainingArtifacts artifacts) =>
        SyntheticBatch.Create(artifacts.Layout.UserInputs, new SyntheticBatchOptions
        {
            BatchSize = 256,
            Seed = 0,
            IntegerUpperBound = 2,
            Dims = artifacts.InferredDims,
        });

    internal static double Relative(double actual, double expected) => Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-30);
}
