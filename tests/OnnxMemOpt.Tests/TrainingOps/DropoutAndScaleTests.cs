using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>DropoutGrad and Scale against exact expected values.</summary>
public class DropoutAndScaleTests
{
    private static readonly double[] Dy = [1, -2, 4, 8, -0.5, 3];
    private static readonly bool[] Mask = [true, false, true, true, false, true];

    [Theory]
    [InlineData(DataType.Float)]
    [InlineData(DataType.Double)]
    [InlineData(DataType.Float16)]
    [InlineData(DataType.Bfloat16)]
    public void DropoutGradScalesKeptGradients(DataType type)
    {
        Fetched dx = OpHarness.RunSingle("DropoutGrad",
            [Feed.Of("dy", type, [2, 3], Dy), Feed.Bool("mask", [2, 3], Mask), Feed.Of("ratio", type, [], [0.75])], type);
        Assert.Equal(new double[] { 4, 0, 16, 32, 0, 12 }, dx.Values);
    }

    [Theory]
    [InlineData(DataType.Float16, DataType.Float)]
    [InlineData(DataType.Float, DataType.Double)]
    [InlineData(DataType.Bfloat16, DataType.Float16)]
    public void DropoutGradTakesTheRatioInAnyFloatType(DataType type, DataType ratioType)
    {
        Fetched dx = OpHarness.RunSingle("DropoutGrad",
            [Feed.Of("dy", type, [2, 3], Dy), Feed.Bool("mask", [2, 3], Mask), Feed.Of("ratio", ratioType, [1], [0.5])], type);
        Assert.Equal(new double[] { 2, 0, 8, 16, 0, 6 }, dx.Values);
    }

    [Fact]
    public void DropoutGradDefaultsToHalfAndPassesThroughWithoutDropping()
    {
        Fetched byDefault = OpHarness.RunSingle("DropoutGrad", [Feed.Float("dy", [6], Dy), Feed.Bool("mask", [6], Mask)], DataType.Float);
        Assert.Equal(new double[] { 2, 0, 8, 16, 0, 6 }, byDefault.Values);

        Fetched zeroRatio = OpHarness.RunSingle("DropoutGrad",
            [Feed.Float("dy", [6], Dy), Feed.Bool("mask", [6], Mask), Feed.Float("ratio", [], [0.0])], DataType.Float);
        Assert.Equal(Dy, zeroRatio.Values);

        // training_mode false: the forward Dropout was the identity, so is its gradient.
        Fetched inference = OpHarness.RunSingle("DropoutGrad",
            [Feed.Float("dy", [6], Dy), Feed.Bool("mask", [6], Mask), Feed.Float("ratio", [], [0.5]), Feed.Bool("training", [], [false])],
            DataType.Float);
        Assert.Equal(Dy, inference.Values);
    }

    [Fact]
    public void BitmaskDropoutGradReadsPackedMasksLikeDropoutGrad()
    {
        var random = new Random(12);
        const int Count = 70;  // three words, the last one partly used
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, Count));
        bool[] mask = Enumerable.Range(0, Count).Select(_ => random.Next(2) == 1).ToArray();
        long[] words = new long[3];
        for (int i = 0; i < Count; i++)
        {
            words[i / 32] |= mask[i] ? 1L << (i % 32) : 0;
        }
        Fetched packed = OpHarness.RunSingle("BitmaskDropoutGrad",
            [Feed.Float("dy", [Count], dy), new Feed("mask", DataType.Uint32, [3], words), Feed.Float("ratio", [], [0.2])], DataType.Float);
        Fetched plain = OpHarness.RunSingle("DropoutGrad",
            [Feed.Float("dy", [Count], dy), Feed.Bool("mask", [Count], mask), Feed.Float("ratio", [], [0.2])], DataType.Float);
        Assert.Equal(plain.Values, packed.Values);
        Assert.Equal(dy.Select((v, i) => mask[i] ? (double)(float)(v * (float)(1 / 0.8)) : 0).ToArray(), packed.Values);
    }

    [Theory]
    [InlineData(DataType.Float, 0)]
    [InlineData(DataType.Double, 0)]
    [InlineData(DataType.Float16, 0)]
    [InlineData(DataType.Float, 1)]
    public void ScaleMultipliesOrDivides(DataType type, long scaleDown)
    {
        Fetched byFloat = OpHarness.RunSingle("Scale", [Feed.Of("x", type, [2, 3], Dy), Feed.Float("s", [], [4.0])], type,
            OpHarness.Microsoft, TinyModel.Attr("scale_down", scaleDown));
        Assert.Equal(Dy.Select(v => scaleDown == 1 ? v / 4 : v * 4).ToArray(), byFloat.Values);

        // The ReduceMean gradient's form: an int64 divisor (Size(X) / Size(dY)).
        Fetched byInt = OpHarness.RunSingle("Scale", [Feed.Of("x", type, [2, 3], Dy), Feed.Int64("s", [1], [2])], type,
            OpHarness.Microsoft, TinyModel.Attr("scale_down", scaleDown));
        Assert.Equal(Dy.Select(v => scaleDown == 1 ? v / 2 : v * 2).ToArray(), byInt.Values);
    }
}
