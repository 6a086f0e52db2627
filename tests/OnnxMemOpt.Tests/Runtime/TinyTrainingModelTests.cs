using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>
/// The trainer on a training graph built here, in ONNX Runtime's artifact convention: loss = Σ x·w
/// (w broadcast over the batch), so ∂loss/∂w is the column sum of x, accumulated by
/// InPlaceAccumulatorV2. Needs no ../shared data.
/// </summary>
public sealed class TinyTrainingModelTests : IDisposable
{
    private const int Features = 3;
    private static readonly float[] InitialWeights = [0.5f, -1f, 2f];
    private readonly string _folder = Directory.CreateTempSubdirectory("tiny-training").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StepComputesLossAndAccumulatesTheGradientInPlace(bool outputsBuffer)
    {
        using var trainer = new Trainer(Artifacts(outputsBuffer), new TrainerOptions { IntraOpThreads = 1 });
        float[] x1 = [1, 2, 3, 4, 5, 6];
        float[] x2 = [-1, 0.5f, 2, 0, 1, -3];
        using TrainingBatch b1 = new TrainingBatch().Add("x", x1, 2, Features);
        using TrainingBatch b2 = new TrainingBatch().Add("x", x2, 2, Features);

        Assert.Equal(Loss(x1, InitialWeights), trainer.Step(b1), 5);
        Assert.Equal(ColumnSums(x1), trainer.Parameters["w"].Gradients.ToArray());

        // Without LazyResetGrad the next step adds; after it, the next step overwrites.
        trainer.Step(b2);
        Assert.Equal(ColumnSums(x1).Zip(ColumnSums(x2), (a, b) => a + b), trainer.Parameters["w"].Gradients.ToArray());
        trainer.LazyResetGrad();
        trainer.Step(b2);
        Assert.Equal(ColumnSums(x2), trainer.Parameters["w"].Gradients.ToArray());
    }

    [Fact]
    public void LoopAveragesAccumulatedMicroBatchesBeforeAdamW()
    {
        var settings = new AdamWSettings { AdamMode = 0, WeightDecay = 0.01f };
        using var trainer = new Trainer(Artifacts(false, settings), new TrainerOptions { IntraOpThreads = 1, LearningRate = 0.1f });
        float[][] xs = [[1, 2, 3, 4, 5, 6], [-1, 0.5f, 2, 0, 1, -3]];
        TrainingBatch[] batches = xs.Select(x => new TrainingBatch().Add("x", x, 2, Features)).ToArray();
        try
        {
            TrainingReport report = TrainingLoop.Run(trainer, i => batches[i % 2], steps: 1, accumulationSteps: 2);

            float[] mean = ColumnSums(xs[0]).Zip(ColumnSums(xs[1]), (a, b) => (a + b) / 2).ToArray();
            float[] expected = (float[])InitialWeights.Clone();
            new AdamW(settings).Update(expected, mean, new float[Features], new float[Features], 0.1f, 1);
            Assert.Equal(expected, trainer.Parameters["w"].Values.ToArray());
            Assert.Equal((Loss(xs[0], InitialWeights) + Loss(xs[1], InitialWeights)) / 2, report.Losses.Single(), 5);
            Assert.Equal(1, trainer.OptimizerStepCount);
            Assert.True(report.MeasuredPeakBytes > 0);
        }
        finally
        {
            Array.ForEach(batches, b => b.Dispose());
        }
    }

    [Fact]
    public void OptimizerStateFromTheCheckpointContinuesTraining()
    {
        // A checkpoint saved by ORT after 7 optimizer steps: AdamW continues at step 8 with its moments,
        // and, as ONNX Runtime's training API, at 1e-3: initial_learning_rate is kept for schedulers only.
        float[] m = [0.1f, -0.2f, 0.3f];
        float[] v = [0.01f, 0.02f, 0.03f];
        OrtCheckpoint plain = Checkpoint();
        var checkpoint = new OrtCheckpoint
        {
            Version = 1,
            TrainableParameters = plain.TrainableParameters,
            FrozenParameters = [],
            OptimizerGroups = [new OptimizerGroupState("group0", 7, 0.25f, [new ParameterMoments("w", [
                new CheckpointTensor("momentum0", [Features], (float[])m.Clone()),
                new CheckpointTensor("momentum1", [Features], (float[])v.Clone())])])],
            Properties = CheckpointProperties.Empty,
        };
        string path = Path.Combine(_folder, "resume.onnx");
        File.WriteAllBytes(path, BuildModel(false));
        var settings = new AdamWSettings { AdamMode = 1, WeightDecay = 0 };
        using var trainer = new Trainer(TrainingArtifacts.Create(path, checkpoint, "in-memory", settings), new TrainerOptions { IntraOpThreads = 1 });
        Assert.Equal(7, trainer.OptimizerStepCount);
        Assert.Equal(TrainerOptions.DefaultLearningRate, trainer.CurrentLearningRate);
        Assert.Equal(0.25f, trainer.CheckpointInitialLearningRate);
        Assert.Equal(m, trainer.Parameters["w"].FirstMoments.ToArray());

        float[] x = [1, 2, 3, 4, 5, 6];
        using TrainingBatch batch = new TrainingBatch().Add("x", x, 2, Features);
        trainer.Step(batch);
        trainer.OptimizerStep();

        float[] expected = (float[])InitialWeights.Clone();
        new AdamW(settings).Update(expected, ColumnSums(x), m, v, TrainerOptions.DefaultLearningRate, 8);
        Assert.Equal(expected, trainer.Parameters["w"].Values.ToArray());
        Assert.Equal(8, trainer.OptimizerStepCount);
    }

    [Fact]
    public void GradientCheckAgreesOnALinearLossAndRestoresTheParameters()
    {
        using var trainer = new Trainer(Artifacts(false), new TrainerOptions { IntraOpThreads = 1 });
        float[] x = [1, 2, 3, 4, 5, 6];
        using TrainingBatch batch = new TrainingBatch().Add("x", x, 2, Features);
        GradientCheckReport report = GradientCheck.Run(trainer, batch, samples: 3, step: 0.25f);

        // The loss is linear in w, so the difference quotient equals the column sums up to rounding.
        Assert.Equal(3, report.Samples.Count);
        Assert.Equal(ColumnSums(x).OrderDescending(), report.Samples.Select(s => s.Graph));
        Assert.True(report.WorstRelativeError < 1e-5, $"worst {report.WorstRelativeError}");
        Assert.Equal(InitialWeights, trainer.Parameters["w"].Values.ToArray());
        Assert.Equal(ColumnSums(x), trainer.Parameters["w"].Gradients.ToArray());
    }

    [Fact]
    public void FrozenParametersAreBoundButNeverUpdated()
    {
        // loss = Σ (x·w + b) with b frozen: b is a graph input without a gradient buffer.
        string path = Path.Combine(_folder, "frozen.onnx");
        File.WriteAllBytes(path, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, null, Features)
            .Input("w", TensorProto.Types.DataType.Float, Features)
            .Input("b", TensorProto.Types.DataType.Float, Features)
            .Input("w_grad.accumulation.buffer", TensorProto.Types.DataType.Float, Features)
            .Input("lazy_reset_grad", TensorProto.Types.DataType.Bool, 1)
            .Output("loss", TensorProto.Types.DataType.Float)
            .Output("w_grad.accumulation.out", TensorProto.Types.DataType.Bool, 1)
            .Initializer(TinyModel.Int64Tensor("axis0", [1], [0]))
            .Node("Mul", ["x", "w"], ["xw"])
            .Node("Add", ["xw", "b"], ["y"])
            .Node("ReduceSum", ["y"], ["loss"], "", TinyModel.Attr("keepdims", 0L))
            .Node("ReduceSum", ["x", "axis0"], ["w_grad"], "", TinyModel.Attr("keepdims", 0L))
            .Node("InPlaceAccumulatorV2", ["w_grad.accumulation.buffer", "w_grad", "lazy_reset_grad"], ["w_grad.accumulation.out"], "com.microsoft")
            .ToBytes());
        float[] bias = [10f, 20f, 30f];
        OrtCheckpoint checkpoint = Checkpoint();
        checkpoint = new OrtCheckpoint
        {
            Version = checkpoint.Version,
            TrainableParameters = checkpoint.TrainableParameters,
            FrozenParameters = [new CheckpointTensor("b", [Features], (float[])bias.Clone())],
            OptimizerGroups = [],
            Properties = CheckpointProperties.Empty,
        };
        using var trainer = new Trainer(TrainingArtifacts.Create(path, checkpoint, "in-memory"), new TrainerOptions { IntraOpThreads = 1 });
        Assert.Equal(["w"], trainer.Parameters.Trained.Select(p => p.Name));
        Assert.False(trainer.Parameters["b"].IsTrained);

        float[] x = [1, 2, 3, 4, 5, 6];
        using TrainingBatch batch = new TrainingBatch().Add("x", x, 2, Features);
        Assert.Equal(Loss(x, InitialWeights) + (2 * bias.Sum()), trainer.Step(batch), 4);
        trainer.OptimizerStep();
        Assert.Equal(bias, trainer.Parameters["b"].Values.ToArray());
        Assert.NotEqual(InitialWeights, trainer.Parameters["w"].Values.ToArray());
    }

    [Fact]
    public void MissingInputsAndNonTrainingModelsAreReported()
    {
        using var trainer = new Trainer(Artifacts(false), new TrainerOptions { IntraOpThreads = 1 });
        using var empty = new TrainingBatch();
        Assert.Contains("'x'", Assert.Throws<ArgumentException>(() => trainer.Step(empty)).Message, StringComparison.Ordinal);

        string forward = Path.Combine(_folder, "forward.onnx");
        File.WriteAllBytes(forward, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, null, Features)
            .Input("w", TensorProto.Types.DataType.Float, Features)
            .Output("y", TensorProto.Types.DataType.Float, null, Features)
            .Node("Mul", ["x", "w"], ["y"])
            .ToBytes());
        Assert.Throws<InvalidDataException>(() => TrainingArtifacts.Create(forward, Checkpoint(), "test"));
    }

    private TrainingArtifacts Artifacts(bool outputsBuffer, AdamWSettings? settings = null)
    {
        string path = Path.Combine(_folder, outputsBuffer ? "buffer_out.onnx" : "flag_out.onnx");
        File.WriteAllBytes(path, BuildModel(outputsBuffer));
        return TrainingArtifacts.Create(path, Checkpoint(), "in-memory checkpoint", settings);
    }

    private static OrtCheckpoint Checkpoint() => new()
    {
        Version = 1,
        TrainableParameters = [new CheckpointTensor("w", [Features], (float[])InitialWeights.Clone())],
        FrozenParameters = [],
        OptimizerGroups = [],
        Properties = CheckpointProperties.Empty,
    };

    private static byte[] BuildModel(bool outputsBuffer)
    {
        var model = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, null, Features)
            .Input("w", TensorProto.Types.DataType.Float, Features)
            .Input("w_grad.accumulation.buffer", TensorProto.Types.DataType.Float, Features)
            .Input("lazy_reset_grad", TensorProto.Types.DataType.Bool, 1)
            .Output("loss", TensorProto.Types.DataType.Float)
            .Initializer(TinyModel.Int64Tensor("axis0", [1], [0]))
            .Node("Mul", ["x", "w"], ["xw"])
            .Node("ReduceSum", ["xw"], ["loss"], "", TinyModel.Attr("keepdims", 0L))
            .Node("ReduceSum", ["x", "axis0"], ["w_grad"], "", TinyModel.Attr("keepdims", 0L));
        return outputsBuffer
            ? model.Output("w_grad.accumulation.out", TensorProto.Types.DataType.Float, Features)
                .Node("InPlaceAccumulatorV2", ["w_grad.accumulation.buffer", "w_grad", "lazy_reset_grad"], ["w_updated", "w_grad.accumulation.out"], "com.microsoft")
                .ToBytes()
            : model.Output("w_grad.accumulation.out", TensorProto.Types.DataType.Bool, 1)
                .Node("InPlaceAccumulatorV2", ["w_grad.accumulation.buffer", "w_grad", "lazy_reset_grad"], ["w_grad.accumulation.out"], "com.microsoft")
                .ToBytes();
    }

    private static float Loss(float[] x, float[] w) =>
        (float)Enumerable.Range(0, x.Length).Sum(i => (double)x[i] * w[i % Features]);

    private static float[] ColumnSums(float[] x) =>
        Enumerable.Range(0, Features).Select(c => Enumerable.Range(0, x.Length / Features).Sum(r => x[(r * Features) + c])).ToArray();
}
