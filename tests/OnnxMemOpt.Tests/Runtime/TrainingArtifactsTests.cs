using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class TrainingArtifactsTests
{
    [SkippableFact]
    public void MlpArtifactsResolveTheirFilesAndLayout()
    {
        TrainingArtifacts artifacts = ArtifactData.Mlp();
        Assert.EndsWith("checkpoint.ckpt", artifacts.CheckpointPath, StringComparison.Ordinal);
        Assert.EndsWith("adamw.onnx", artifacts.OptimizerModelPath, StringComparison.Ordinal);
        Assert.EndsWith("eval_model.onnx", artifacts.EvalModelPath, StringComparison.Ordinal);

        TrainingModelLayout layout = artifacts.Layout;
        Assert.Equal(["input-0", "labels"], layout.UserInputs.Select(i => i.Name));
        Assert.Equal([TensorElementType.Float, TensorElementType.Int32], layout.UserInputs.Select(i => i.ElementType));
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], layout.Parameters);
        Assert.Equal("fc2.bias_grad.accumulation.buffer", layout.GradientBuffers["fc2.bias"]);
        Assert.Equal("lazy_reset_grad", layout.LazyResetInput);
        Assert.Equal("onnx::loss::21273", layout.LossOutput);
        Assert.Equal(4, layout.GradientOutputs.Count);
        Assert.Empty(layout.OtherOutputs);

        Assert.NotNull(artifacts.EvalLayout);
        Assert.False(artifacts.EvalLayout.IsTrainingModel);
        Assert.Equal(layout.Parameters, artifacts.EvalLayout.Parameters);
    }

    [SkippableFact]
    public void LoraArtifactsHaveAPredictionOutputBesideTheLoss()
    {
        TrainingArtifacts artifacts = ArtifactData.Lora();
        Assert.Equal(artifacts.TrainingModelPath, TrainingArtifacts.Load(Path.GetDirectoryName(artifacts.TrainingModelPath)!).TrainingModelPath);
        Assert.EndsWith("optimizer_model.onnx", artifacts.OptimizerModelPath, StringComparison.Ordinal);
        Assert.Equal(["input", "target"], artifacts.Layout.UserInputs.Select(i => i.Name));
        Assert.Equal(["output"], artifacts.Layout.OtherOutputs);
        Assert.Equal(["linear.weight", "linear.bias", "lora.A", "lora.B"], artifacts.Layout.Parameters);
    }

    [SkippableFact]
    public void SyntheticShapesUseTheBatchSizeAndNamedDims()
    {
        TrainingArtifacts artifacts = ArtifactData.Mlp();
        var options = new SyntheticBatchOptions { BatchSize = 3, Dims = ArtifactData.MlpDims };
        Assert.Equal([3L, 784], SyntheticBatch.ResolveShape(artifacts.Layout.UserInputs[0], options));
        Assert.Equal([3L], SyntheticBatch.ResolveShape(artifacts.Layout.UserInputs[1], options));
        var error = Assert.Throws<ArgumentException>(() => SyntheticBatch.ResolveShape(artifacts.Layout.UserInputs[0], new SyntheticBatchOptions()));
        Assert.Contains("input-0_dim1", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void TheMlpFeatureSizeIsInferredFromFc1()
    {
        TrainingArtifacts artifacts = ArtifactData.Mlp();
        // input-0 feeds Gemm(transB = 1) with fc1.weight [500, 784]: its second dimension is 784.
        Assert.Equal(new Dictionary<string, long> { ["input-0_dim1"] = 784 }, artifacts.InferredDims);
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 5 });
        Assert.Equal([5L, 784], batch.Values["input-0"].GetTensorTypeAndShape().Shape);
        Assert.Equal([5L], batch.Values["labels"].GetTensorTypeAndShape().Shape);
    }

    [Fact]
    public void SyntheticBatchesAreSeededAndLabelsStayBelowTheBound()
    {
        TensorSpec[] specs =
        [
            new("x", TensorElementType.Float, [new Dimension(null, "b"), new Dimension(5, null)]),
            new("y", TensorElementType.Int64, [new Dimension(null, "b")]),
        ];
        var options = new SyntheticBatchOptions { BatchSize = 1000, Seed = 5, IntegerUpperBound = 3 };
        using TrainingBatch a = SyntheticBatch.Create(specs, options);
        using TrainingBatch b = SyntheticBatch.Create(specs, options);
        float[] xa = a.Values["x"].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(xa, b.Values["x"].GetTensorDataAsSpan<float>().ToArray());
        // A standard normal sample of 5000: mean ≈ 0 and variance ≈ 1 within a few standard errors.
        Assert.InRange(xa.Average(), -0.05, 0.05);
        Assert.InRange(xa.Select(v => (double)v * v).Average(), 0.93, 1.07);
        long[] labels = a.Values["y"].GetTensorDataAsSpan<long>().ToArray();
        Assert.All(labels, l => Assert.InRange(l, 0, 2));
        Assert.Equal(3, labels.Distinct().Count());
    }
}
