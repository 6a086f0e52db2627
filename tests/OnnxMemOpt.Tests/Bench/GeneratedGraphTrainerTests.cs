using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Bench;

/// <summary>
/// The trainer on the project's own training graphs (TrainingGraphBuilder: parameters as inputs,
/// <c>&lt;param&gt;_grad</c> outputs, no accumulation buffers) through GeneratedGraphArtifacts.
/// </summary>
public class GeneratedGraphTrainerTests(ITestOutputHelper output)
{
    private static OnnxModel VitTraining(TrainableSet set) =>
        TrainingGraphBuilder.Build(OnnxModel.FromProto(VitModel.Build(FixtureCatalog.VitTiny with { Batch = 4 })), new TrainingGraphOptions
        {
            Trainable = set,
            LoraTargets = @"attn\.(q|v)\.",
        });

    [Fact]
    public void DirectGradientOutputsMatchFiniteDifferences()
    {
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(VitTraining(TrainableSet.Full), temp.Path);
        Assert.NotEmpty(artifacts.Layout.DirectGradients);
        Assert.Empty(artifacts.Layout.GradientBuffers);
        using var trainer = new Trainer(artifacts);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 3 });
        GradientCheckReport report = GradientCheck.Run(trainer, batch, samples: 24);
        output.WriteLine($"loss {report.Loss}, worst relative error {report.WorstRelativeError:E3}");
        foreach (var s in report.Samples.OrderByDescending(s => s.RelativeError).Take(6)) output.WriteLine($"{s.Parameter}[{s.Index}] graph {s.Graph} fd {s.FiniteDifference}");
        // Key biases have an exactly zero gradient (softmax is shift-invariant): there both sides are
        // float32 noise, so they are compared absolutely; every other sample relatively.
        foreach (GradientCheckSample sample in report.Samples)
        {
            if (Math.Abs(sample.FiniteDifference) < 1e-5)
            {
                Assert.True(Math.Abs(sample.Graph) < 1e-5, $"{sample.Parameter}[{sample.Index}]: graph {sample.Graph}, finite difference {sample.FiniteDifference}");
            }
            else
            {
                Assert.True(sample.RelativeError < 2e-2, $"{sample.Parameter}[{sample.Index}]: graph {sample.Graph}, finite difference {sample.FiniteDifference}");
            }
        }
        Assert.True(report.Samples.Count(s => Math.Abs(s.Graph) > 1e-3) >= 12);
    }

    [Fact]
    public void AccumulatedGradientIsTheSumOfTheMicroBatchGradients()
    {
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(VitTraining(TrainableSet.Lora), temp.Path);
        using var trainer = new Trainer(artifacts);
        using TrainingBatch first = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 1 });
        using TrainingBatch second = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 2 });
        // B starts at zero (A's gradient too): one optimizer step makes every gradient non-trivial.
        trainer.Step(first);
        trainer.OptimizerStep();

        Dictionary<string, float[]> Gradients() => trainer.Parameters.Trained.ToDictionary(p => p.Name, p => p.Gradients.ToArray());
        trainer.LazyResetGrad();
        trainer.Step(first);
        var g1 = Gradients();
        trainer.LazyResetGrad();
        trainer.Step(second);
        var g2 = Gradients();
        trainer.LazyResetGrad();
        trainer.Step(first);
        trainer.Step(second);
        var sum = Gradients();
        foreach (var (name, values) in sum)
        {
            for (int i = 0; i < values.Length; i++)
            {
                Assert.Equal(g1[name][i] + g2[name][i], values[i], 6);
            }
        }
        Assert.Contains(sum.Values, v => v.Any(x => Math.Abs(x) > 1e-4));
    }

    [Fact]
    public void EvalModelGivesTheTrainingLossAndLogProbabilities()
    {
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(VitTraining(TrainableSet.Lora), temp.Path, withEvalModel: true);
        using var trainer = new Trainer(artifacts);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 5, IntegerUpperBound = 10 });
        var outputs = new Dictionary<string, float[]>();
        float evalLoss = trainer.Evaluate(batch, outputs);
        float trainLoss = trainer.Step(batch);
        Assert.Equal(trainLoss, evalLoss, 5);
        float[] logProbs = Assert.Single(outputs.Values);
        Assert.Equal(4 * 10, logProbs.Length);
        long[] labels = batch.Values["labels"].GetTensorDataAsSpan<long>().ToArray();
        // Mean of −log p[label] is the loss; each row's probabilities sum to one.
        double nll = Enumerable.Range(0, 4).Average(r => -logProbs[(r * 10) + labels[r]]);
        Assert.Equal(trainLoss, nll, 4);
        for (int r = 0; r < 4; r++)
        {
            Assert.Equal(1.0, Enumerable.Range(0, 10).Sum(c => Math.Exp(logProbs[(r * 10) + c])), 4);
        }
    }

    /// <summary>Asking for CUDA on a runtime without it (the CPU package here) falls back to the CPU provider and trains the same.</summary>
    [Fact]
    public void CudaWhenPresentFallsBackToTheCpuProvider()
    {
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(VitTraining(TrainableSet.Lora), temp.Path);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 7 });
        using var cpu = new Trainer(artifacts);
        using var auto = new Trainer(artifacts, new TrainerOptions { UseCudaWhenPresent = true });
        Assert.False(cpu.UsesCuda);
        if (auto.UsesCuda)
        {
            return; // a CUDA build of ONNX Runtime with a GPU: nothing to fall back from.
        }
        Assert.Equal(cpu.Step(batch), auto.Step(batch));
        Assert.True(auto.MemoryStats().MaxInUse > 0);
    }

    /// <summary>Save after some steps, resume in a fresh trainer: the following steps repeat bit for bit.</summary>
    [Fact]
    public void ResumeFromASavedCheckpointContinuesBitForBit()
    {
        using var temp = new TempDirectory();
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(VitTraining(TrainableSet.Lora), temp.Path);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 9 });
        var options = new TrainerOptions { LearningRate = 1e-2f, Schedule = new WarmupCosineSchedule(1e-2f, 2, 6) };
        var first = new List<float>();
        using (var trainer = new Trainer(artifacts, options))
        {
            TrainingLoop.Run(trainer, _ => batch, steps: 3, accumulationSteps: 2);
            trainer.Save(temp.File("run.ckpt"));
            first.AddRange(TrainingLoop.Run(trainer, _ => batch, steps: 3, accumulationSteps: 2).Losses);
        }
        using var resumed = new Trainer(artifacts, options);
        resumed.Resume(temp.File("run.ckpt"));
        IReadOnlyList<float> second = TrainingLoop.Run(resumed, _ => batch, steps: 3, accumulationSteps: 2).Losses;
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), second.Select(BitConverter.SingleToInt32Bits));
        Assert.True(first[^1] < first[0]);
    }
}
