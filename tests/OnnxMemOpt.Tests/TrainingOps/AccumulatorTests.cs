using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// InPlaceAccumulatorV2 updates the buffer the caller fed, as in ONNX Runtime training artifacts
/// (whose graphs only output updated_flag); InPlaceAccumulator returns the sum. Exact values.
/// </summary>
public class AccumulatorTests
{
    private static byte[] AccumulatorModel(DataType bufferType, DataType gradType, bool withBufferOut)
    {
        var model = new TinyModel()
            .Input("buffer", bufferType, 2, 3)
            .Input("grad", gradType, 2, 3)
            .Input("reset", DataType.Bool, 1)
            .Output("updated", DataType.Bool, 1);
        string[] outputs = withBufferOut ? ["updated", "buffer_out"] : ["updated"];
        if (withBufferOut)
        {
            model.Output("buffer_out", bufferType, 2, 3);
        }
        return model.Node("InPlaceAccumulatorV2", ["buffer", "grad", "reset"], outputs, OpHarness.Microsoft).ToBytes();
    }

    [Fact]
    public void V2AccumulatesIntoTheFedBufferAndOverwritesOnReset()
    {
        using InferenceSession session = OrtRunner.CreateSession(AccumulatorModel(DataType.Float, DataType.Float, withBufferOut: false));
        var buffer = new DenseTensor<float>(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var grad = new DenseTensor<float>(new float[] { 0.5f, -1, 2, 0, 10, -6 }, [2, 3]);

        void Step(bool reset)
        {
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("buffer", buffer),
                NamedOnnxValue.CreateFromTensor("grad", grad),
                NamedOnnxValue.CreateFromTensor("reset", new DenseTensor<bool>(new[] { reset }, [1])),
            ]);
            var updated = results.Single().AsTensor<bool>();
            Assert.Equal([1], updated.Dimensions.ToArray());
            Assert.True(updated[0]);
        }

        Step(reset: false);
        Assert.Equal(new float[] { 1.5f, 1, 5, 4, 15, 0 }, buffer.ToArray());
        Step(reset: false);
        Assert.Equal(new float[] { 2, 0, 7, 4, 25, -6 }, buffer.ToArray());
        Step(reset: true);  // lazy_reset_grad: the buffer becomes this step's gradient
        Assert.Equal(grad.ToArray(), buffer.ToArray());
    }

    [Fact]
    public void V2CopiesToTheOptionalOutputAndAcceptsHalfGradients()
    {
        using InferenceSession session = OrtRunner.CreateSession(AccumulatorModel(DataType.Float, DataType.Float16, withBufferOut: true));
        var buffer = new DenseTensor<float>(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var grad = new DenseTensor<Float16>(new[] { 0.5f, 0.25f, -1, 2, 0, 8 }.Select(v => (Float16)v).ToArray(), [2, 3]);
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("buffer", buffer),
            NamedOnnxValue.CreateFromTensor("grad", grad),
            NamedOnnxValue.CreateFromTensor("reset", new DenseTensor<bool>(new[] { false }, [1])),
        ]);
        float[] expected = [1.5f, 2.25f, 2, 6, 5, 14];
        Assert.Equal(expected, buffer.ToArray());
        Assert.Equal(expected, results.Single(r => r.Name == "buffer_out").AsTensor<float>().ToArray());
    }

    [Theory]
    [InlineData(true, new double[] { 3, 1, 11 })]
    [InlineData(false, new double[] { 1, 2, 3 })]
    public void V1ReturnsTheSumUnlessTheSignalIsFalse(bool update, double[] expected)
    {
        Fetched sum = OpHarness.RunSingle("InPlaceAccumulator",
            [Feed.Float("old", [3], [1, 2, 3]), Feed.Float("value", [3], [2, -1, 8]), Feed.Bool("signal", [1], [update])], DataType.Float);
        Assert.Equal(expected, sum.Values);
    }
}
