using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>
/// The training graph's first-step gradients against central finite differences of its own loss.
/// Parameters are perturbed by writing into the bound OrtValues, which also proves that the
/// sessions read the parameters by reference (no copy is taken at bind time).
/// </summary>
public sealed class GradientCheckTests
{
    [SkippableFact]
    public void MlpGradientsMatchCentralDifferences()
    {
        using var trainer = new Trainer(ArtifactData.Mlp(), ArtifactData.Options());
        using TrainingBatch batch = ArtifactData.MlpReferenceBatch();
        CheckGradients(trainer, batch, step: 1e-2f, elementsPerParameter: 4);

        // The library routine behind `onnxmemopt gradcheck` reaches the same verdict.
        GradientCheckReport report = GradientCheck.Run(trainer, batch, samples: 16);
        Assert.Equal(16, report.Samples.Count);
        Assert.True(report.WorstRelativeError <= 1e-3, $"worst relative error {report.WorstRelativeError}");
    }

    [SkippableFact]
    public void LoraGradientsMatchCentralDifferencesAfterAnUpdate()
    {
        // LoRA starts with B = 0, which makes A's gradient exactly zero; one update makes both non-zero.
        using var trainer = new Trainer(ArtifactData.Lora(), ArtifactData.Options(learningRate: 0.05f));
        using TrainingBatch batch = ArtifactData.Synthetic(trainer.Artifacts, 8, seed: 21);
        trainer.Step(batch);
        trainer.OptimizerStep();
        CheckGradients(trainer, batch, step: 1e-2f, elementsPerParameter: 3);
    }

    private static void CheckGradients(Trainer trainer, TrainingBatch batch, float step, int elementsPerParameter)
    {
        trainer.LazyResetGrad();
        float baseLoss = trainer.Step(batch);
        var gradients = trainer.Parameters.Trained.ToDictionary(p => p.Name, p => p.Gradients.ToArray());
        int checkedCount = 0;
        foreach (TrainableParameter parameter in trainer.Parameters.Trained)
        {
            float[] gradient = gradients[parameter.Name];
            // The largest gradients: float32 loss rounding (~1e-7·loss) divided by the step stays
            // far below 1e-3 of them, so the comparison tests the graph, not the arithmetic.
            int[] sample = Enumerable.Range(0, gradient.Length).OrderByDescending(i => Math.Abs(gradient[i])).Take(elementsPerParameter).ToArray();
            foreach (int i in sample)
            {
                float original = parameter.Values[i];
                parameter.Values[i] = original + step;
                trainer.LazyResetGrad();
                double plus = trainer.Step(batch);
                parameter.Values[i] = original - step;
                trainer.LazyResetGrad();
                double minus = trainer.Step(batch);
                parameter.Values[i] = original;

                double difference = (plus - minus) / (2.0 * step);
                double error = Math.Abs(difference - gradient[i]);
                Assert.True(error <= 1e-3 * Math.Abs(gradient[i]),
                    $"{parameter.Name}[{i}]: graph {gradient[i]:R}, finite difference {difference:R} (loss {baseLoss})");
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 3 * elementsPerParameter);
        // Restored parameters give the original loss back exactly.
        trainer.LazyResetGrad();
        Assert.Equal(baseLoss, trainer.Step(batch));
    }
}
