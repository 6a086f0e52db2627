using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>The trainer on ONNX Runtime's own on-device artifacts, against ONNX Runtime's expected results.</summary>
public sealed class TrainerTests
{
    [SkippableFact]
    public void ReproducesOnnxRuntimesTrainingTest()
    {
        // ORT's C# TrainingTest.TestTrainingSessionOptimizerStep: train step, LazyResetGrad, train
        // step (same loss), OptimizerStep at ORT's default learning rate 1e-3, train step.
        float expectedFirst = ArtifactData.ReadLoss("loss_1.out");
        float expectedAfterUpdate = ArtifactData.ReadLoss("loss_2.out");
        Assert.Equal(2.1786249f, expectedFirst);
        Assert.Equal(0.36050943f, expectedAfterUpdate);

        using var trainer = new Trainer(ArtifactData.Mlp(), ArtifactData.Options());
        using TrainingBatch batch = ArtifactData.MlpReferenceBatch();
        Assert.Equal(1e-3f, trainer.CurrentLearningRate);

        AssertRelative(expectedFirst, trainer.Step(batch), 1e-5);
        trainer.LazyResetGrad();
        AssertRelative(expectedFirst, trainer.Step(batch), 1e-5);
        trainer.OptimizerStep();
        AssertRelative(expectedAfterUpdate, trainer.Step(batch), 1e-5);
    }

    [SkippableFact]
    public void EvalModelGivesTheTrainingLoss()
    {
        // The eval graph is a separate forward-only graph: equal losses show parameters are bound right.
        using var trainer = new Trainer(ArtifactData.Mlp(), ArtifactData.Options());
        using TrainingBatch batch = ArtifactData.MlpReferenceBatch();
        float train = trainer.Step(batch);
        Assert.Equal(train, trainer.Evaluate(batch), 5);
        trainer.OptimizerStep();
        float evalAfter = trainer.Evaluate(batch);
        trainer.LazyResetGrad();
        Assert.Equal(trainer.Step(batch), evalAfter, 5);
    }

    [SkippableFact]
    public void LazyResetGradOverwritesAndStepsWithoutItAccumulate()
    {
        using var trainer = new Trainer(ArtifactData.Mlp(), ArtifactData.Options());
        using TrainingBatch first = ArtifactData.Synthetic(trainer.Artifacts, 4, seed: 1, ArtifactData.MlpDims);
        using TrainingBatch second = ArtifactData.Synthetic(trainer.Artifacts, 4, seed: 2, ArtifactData.MlpDims);
        TrainableParameter fc2 = trainer.Parameters["fc2.weight"];

        trainer.Step(first);
        float[] gradFirst = fc2.Gradients.ToArray();
        trainer.LazyResetGrad();
        trainer.Step(second);
        float[] gradSecond = fc2.Gradients.ToArray();
        trainer.Step(first);
        float[] accumulated = fc2.Gradients.ToArray();

        Assert.Contains(gradFirst, g => g != 0);
        Assert.NotEqual(gradFirst, gradSecond);
        for (int i = 0; i < accumulated.Length; i++)
        {
            Assert.Equal(gradFirst[i] + gradSecond[i], accumulated[i], 1e-6f);
        }
    }

    [SkippableFact]
    public void LoraArtifactsLoadAndTrain()
    {
        using var trainer = new Trainer(ArtifactData.Lora(), ArtifactData.Options(learningRate: 1e-2f));
        using TrainingBatch batch = ArtifactData.Synthetic(trainer.Artifacts, 8, seed: 3);
        float[] weightBefore = trainer.Parameters["linear.weight"].Values.ToArray();
        TrainingReport report = TrainingLoop.Run(trainer, _ => batch, steps: 5);
        Assert.All(report.Losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(report.Losses[^1] < report.Losses[0], $"loss {report.Losses[0]} → {report.Losses[^1]}");
        Assert.NotEqual(weightBefore, trainer.Parameters["linear.weight"].Values.ToArray());
        Assert.Contains(trainer.Parameters["lora.B"].Values.ToArray(), v => v != 0);
    }

    [SkippableTheory]
    [InlineData(ArtifactData.MlpModel, 1e-3f)]
    [InlineData(ArtifactData.LoraModel, 5e-2f)]
    public void TwentyStepsOnOneSyntheticBatchAtLeastHalveTheLoss(string model, float learningRate)
    {
        TrainingArtifacts artifacts = TrainingArtifacts.Load(Support.SharedTestData.RequireFile(model));
        using var trainer = new Trainer(artifacts, ArtifactData.Options(learningRate));
        using TrainingBatch batch = ArtifactData.Synthetic(artifacts, 8, seed: 11, ArtifactData.MlpDims);
        TrainingReport report = TrainingLoop.Run(trainer, _ => batch, steps: 20);
        Assert.Equal(20, report.Losses.Count);
        Assert.True(report.Losses[^1] <= report.Losses[0] / 2, $"loss {report.Losses[0]} → {report.Losses[^1]}");
        Assert.True(report.MeasuredPeakBytes > 0);
    }

    private static void AssertRelative(float expected, float actual, double tolerance) =>
        Assert.True(Math.Abs(actual - expected) <= tolerance * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");
}
