using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class TrainerCheckpointTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("trainer-ckpt").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [SkippableFact]
    public void ResumingGivesBitIdenticalLossesToAnUninterruptedRun()
    {
        TrainingArtifacts artifacts = ArtifactData.Mlp();
        var schedule = new WarmupCosineSchedule(2e-3f, WarmupSteps: 2, TotalSteps: 6);
        var options = ArtifactData.Options() with { Schedule = schedule };
        TrainingBatch[] batches = Enumerable.Range(0, 12).Select(seed => ArtifactData.Synthetic(artifacts, 4, seed, ArtifactData.MlpDims)).ToArray();
        try
        {
            // 6 optimizer steps of 2 accumulated micro-batches each = 12 micro-steps.
            List<float> straight;
            using (var trainer = new Trainer(artifacts, options))
            {
                straight = RunMicroSteps(trainer, batches, 0, 12);
            }

            // Interrupted after micro-step 5: in the middle of an accumulation, with moments set.
            string path = Path.Combine(_folder, "resume.omockpt");
            List<float> resumed;
            using (var trainer = new Trainer(artifacts, options))
            {
                resumed = RunMicroSteps(trainer, batches, 0, 5);
                trainer.Save(path);
            }
            Assert.True(OnnxMemOpt.Runtime.Checkpoints.TrainerCheckpoint.IsTrainerCheckpoint(path));
            Assert.False(OnnxMemOpt.Runtime.Checkpoints.TrainerCheckpoint.IsTrainerCheckpoint(artifacts.CheckpointPath));
            using (var trainer = new Trainer(artifacts, options))
            {
                trainer.Resume(path);
                Assert.Equal(2, trainer.OptimizerStepCount);
                Assert.False(trainer.GradientResetPending);
                resumed.AddRange(RunMicroSteps(trainer, batches, 5, 12));
            }

            Assert.Equal(straight.Select(BitConverter.SingleToInt32Bits), resumed.Select(BitConverter.SingleToInt32Bits));
            Assert.True(straight[^1] < straight[0]);
        }
        finally
        {
            Array.ForEach(batches, b => b.Dispose());
        }
    }

    [SkippableFact]
    public void CorruptCheckpointsAreRejectedAndLeaveTheTrainerUntouched()
    {
        using var trainer = new Trainer(ArtifactData.Lora(), ArtifactData.Options());
        string path = Path.Combine(_folder, "lora.omockpt");
        trainer.Save(path);
        byte[] bytes = File.ReadAllBytes(path);
        float[] before = trainer.Parameters["linear.weight"].Values.ToArray();

        string truncated = Path.Combine(_folder, "truncated.omockpt");
        File.WriteAllBytes(truncated, bytes[..^20]);
        var error = Assert.Throws<InvalidDataException>(() => trainer.Resume(truncated));
        Assert.Contains(truncated, error.Message, StringComparison.Ordinal);

        string wrongShape = Path.Combine(_folder, "other.omockpt");
        using (var mlp = new Trainer(ArtifactData.Mlp(), ArtifactData.Options()))
        {
            mlp.Save(wrongShape);
        }
        Assert.Throws<InvalidDataException>(() => trainer.Resume(wrongShape));

        string notACheckpoint = Path.Combine(_folder, "garbage.omockpt");
        File.WriteAllBytes(notACheckpoint, "hello world, not a checkpoint"u8.ToArray());
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => trainer.Resume(notACheckpoint)).Message, StringComparison.Ordinal);

        Assert.Equal(before, trainer.Parameters["linear.weight"].Values.ToArray());
        trainer.Resume(path);
        Assert.Equal(before, trainer.Parameters["linear.weight"].Values.ToArray());
    }

    private static List<float> RunMicroSteps(Trainer trainer, TrainingBatch[] batches, int from, int to)
    {
        var losses = new List<float>();
        for (int micro = from; micro < to; micro++)
        {
            if (micro % 2 == 0)
            {
                trainer.LazyResetGrad();
            }
            losses.Add(trainer.Step(batches[micro]));
            if (micro % 2 == 1)
            {
                trainer.OptimizerStep(0.5f);
            }
        }
        return losses;
    }
}
