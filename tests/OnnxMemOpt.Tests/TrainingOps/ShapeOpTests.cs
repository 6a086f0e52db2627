using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// BroadcastGradientArgs against hand-derived axes, ReduceSumTraining against ONNX Runtime's own
/// ReduceSum-13, ConcatTraining against ONNX Runtime's Concat.
/// </summary>
public class ShapeOpTests
{
    [Theory]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 4 }, new long[0], new long[] { 1, 0 })]
    [InlineData(new long[] { 2, 1, 4 }, new long[] { 3, 1 }, new long[] { 1 }, new long[] { 2, 0 })]
    [InlineData(new long[] { 1, 6 }, new long[] { 5, 1 }, new long[] { 0 }, new long[] { 1 })]
    [InlineData(new long[] { 3 }, new long[] { 2, 3 }, new long[] { 0 }, new long[0])]
    [InlineData(new long[] { 2, 3 }, new long[] { 2, 3 }, new long[0], new long[0])]
    [InlineData(new long[] { 1, 1, 5 }, new long[] { 4, 3, 5 }, new long[] { 1, 0 }, new long[0])]
    public void BroadcastGradientArgsListsReductionAxesLastToFirst(long[] a, long[] b, long[] aAxes, long[] bAxes)
    {
        var result = OpHarness.Run("BroadcastGradientArgs",
            [Feed.Int64("a", [a.Length], a), Feed.Int64("b", [b.Length], b)], [("a_axes", DataType.Int64), ("b_axes", DataType.Int64)]);
        Assert.Equal(aAxes, result["a_axes"].AsInt64());
        Assert.Equal(bAxes, result["b_axes"].AsInt64());
    }

    [Fact]
    public void BroadcastGradientArgsRejectsIncompatibleShapes()
    {
        var error = Assert.ThrowsAny<Exception>(() => OpHarness.Run("BroadcastGradientArgs",
            [Feed.Int64("a", [2], [2, 3]), Feed.Int64("b", [2], [4, 3])], [("a_axes", DataType.Int64), ("b_axes", DataType.Int64)]));
        Assert.Contains("do not broadcast", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new long[] { 1 }, 1L, DataType.Float)]
    [InlineData(new long[] { 0, 2 }, 0L, DataType.Float)]
    [InlineData(new long[] { -1 }, 0L, DataType.Double)]
    [InlineData(new long[0], 1L, DataType.Float)]
    [InlineData(new long[0], 0L, DataType.Int64)]
    [InlineData(new long[] { 2, 0 }, 1L, DataType.Int32)]
    public void ReduceSumTrainingMatchesOnnxRuntimeReduceSum(long[] axes, long keepdims, DataType type)
    {
        long[] shape = [3, 4, 5];
        var random = new Random(axes.Length + (int)keepdims);
        double[] values = type is DataType.Int64 or DataType.Int32
            ? Enumerable.Range(0, 60).Select(_ => (double)random.Next(-50, 50)).ToArray()
            : GradCheck.Quantize(type, GradCheck.Uniform(random, 60));
        Feed data = type is DataType.Int64 or DataType.Int32
            ? new Feed("x", type, shape, values.Select(v => (long)v).ToArray())
            : Feed.Of("x", type, shape, values);
        Feed axesFeed = Feed.Int64("axes", [axes.Length], axes);

        Fetched ours = OpHarness.RunSingle("ReduceSumTraining", [data, axesFeed], type, OpHarness.Microsoft, TinyModel.Attr("keepdims", keepdims));
        var stock = OpHarness.Run("ReduceSum", [data, axesFeed], [("out", type)], "", 13, TinyModel.Attr("keepdims", keepdims))["out"];
        Assert.Equal(stock.Shape, ours.Shape);
        GradCheck.AssertClose(ours.Values, stock.Values, type == DataType.Float ? 1e-6 : 1e-12, "ReduceSumTraining");
    }

    [Fact]
    public void ReduceSumTrainingWithEmptyAxesAndNoopReturnsTheInput()
    {
        double[] values = [1, 2, 3, 4, 5, 6];
        Fetched result = OpHarness.RunSingle("ReduceSumTraining", [Feed.Float("x", [2, 3], values), Feed.Int64("axes", [0], [])],
            DataType.Float, OpHarness.Microsoft, TinyModel.Attr("noop_with_empty_axes", 1L));
        Assert.Equal([2, 3], result.Shape);
        Assert.Equal(values, result.Values);
    }

    [Theory]
    [InlineData(0L, DataType.Float)]
    [InlineData(1L, DataType.Float)]
    [InlineData(-1L, DataType.Int64)]
    [InlineData(2L, DataType.Float16)]
    public void ConcatTrainingMatchesConcatAndReportsLengths(long axis, DataType type)
    {
        long[][] shapes = axis switch
        {
            0 => [[1, 3, 2], [2, 3, 2], [3, 3, 2]],
            1 => [[2, 1, 2], [2, 4, 2], [2, 2, 2]],
            _ => [[2, 3, 1], [2, 3, 3], [2, 3, 2]],
        };
        var random = new Random((int)axis + 40);
        var feeds = shapes.Select((s, i) =>
        {
            double[] v = Enumerable.Range(0, (int)GradCheck.Count(s)).Select(_ => (double)random.Next(-20, 20)).ToArray();
            return type == DataType.Int64 ? new Feed($"in{i}", type, s, v.Select(x => (long)x).ToArray()) : Feed.Of($"in{i}", type, s, v);
        }).ToArray();

        var ours = OpHarness.Run("ConcatTraining", feeds, [("out", type), ("lengths", DataType.Int64)], OpHarness.Microsoft, 17,
            TinyModel.Attr("axis", axis));
        var stock = OpHarness.Run("Concat", feeds, [("out", type)], "", 13, TinyModel.Attr("axis", axis));
        int normalized = (int)(axis < 0 ? axis + 3 : axis);
        Assert.Equal(stock["out"].Shape, ours["out"].Shape);
        Assert.Equal(stock["out"].Values, ours["out"].Values);
        Assert.Equal(shapes.Select(s => s[normalized]).ToArray(), ours["lengths"].AsInt64());
    }

    [Fact]
    public void ConcatTrainingWorksWithoutTheLengthsOutput()
    {
        Fetched result = OpHarness.RunSingle("ConcatTraining", [Feed.Float("a", [2], [1, 2]), Feed.Float("b", [1], [3])], DataType.Float,
            OpHarness.Microsoft, TinyModel.Attr("axis", 0L));
        Assert.Equal(new double[] { 1, 2, 3 }, result.Values);
    }

    [Theory]
    [InlineData(1L, new long[] { 1, 3, 2 })]
    [InlineData(-1L, new long[] { 4, 1 })]
    [InlineData(0L, new long[] { 2, 1 })]
    public void SplitTrainingMatchesSplit(long axis, long[] split)
    {
        long[] shape = [3, 6, 5];
        var random = new Random(8);
        double[] values = Enumerable.Range(0, 90).Select(_ => (double)random.Next(-9, 9)).ToArray();
        int normalized = (int)(axis < 0 ? axis + 3 : axis);
        long[] lengths = split.Sum() == shape[normalized] ? split : [.. split, shape[normalized] - split.Sum()];
        var outputs = lengths.Select((_, i) => ($"out{i}", DataType.Float)).ToArray();
        Feed[] inputs = [Feed.Float("x", shape, values), Feed.Int64("split", [lengths.Length], lengths)];
        var ours = OpHarness.Run("SplitTraining", inputs, outputs, OpHarness.Microsoft, 17, TinyModel.Attr("axis", axis));
        var stock = OpHarness.Run("Split", inputs, outputs, "", 13, TinyModel.Attr("axis", axis));
        foreach (var (name, _) in outputs)
        {
            Assert.Equal(stock[name].Shape, ours[name].Shape);
            Assert.Equal(stock[name].Values, ours[name].Values);
        }
    }

    [Fact]
    public void SplitTrainingWithoutLengthsSplitsEvenly()
    {
        double[] values = Enumerable.Range(0, 12).Select(i => (double)i).ToArray();
        var result = OpHarness.Run("SplitTraining", [Feed.Float("x", [2, 6], values), Feed.Int64("split", [0], [])],
            [("a", DataType.Float), ("b", DataType.Float), ("c", DataType.Float)], OpHarness.Microsoft, 17, TinyModel.Attr("axis", 1L));
        Assert.Equal(new double[] { 0, 1, 6, 7 }, result["a"].Values);
        Assert.Equal(new double[] { 2, 3, 8, 9 }, result["b"].Values);
        Assert.Equal(new double[] { 4, 5, 10, 11 }, result["c"].Values);
    }
}
