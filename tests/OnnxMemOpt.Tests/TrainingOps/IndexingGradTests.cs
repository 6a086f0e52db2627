using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// SliceGrad and GatherGrad against ONNX Runtime's own Slice and Gather: running the forward op
/// on X = [0, 1, 2, ...] tells which element of X each output element came from, so the exact
/// gradient is dY scattered (and, for repeated gather indices, summed) back to those positions.
/// </summary>
public class IndexingGradTests
{
    private static readonly long[] Shape = [4, 5, 6];

    private static double[] Iota(long[] shape) => Enumerable.Range(0, (int)GradCheck.Count(shape)).Select(i => (double)i).ToArray();

    private static double[] ScatterAdd(double[] sources, double[] dy, long size)
    {
        var dx = new double[size];
        for (int i = 0; i < sources.Length; i++)
        {
            dx[(long)sources[i]] += dy[i];
        }
        return dx;
    }

    public static TheoryData<long[], long[], long[]?, long[]?, DataType> SliceCases() => new()
    {
        { [1, 0], [3, 5], null, null, DataType.Float },
        { [0, 1, 1], [4, 4, 6], [0, 1, 2], [1, 2, 2], DataType.Float },
        { [-1, 4], [-6, -100], [1, 2], [-1, -2], DataType.Float },
        { [2], [long.MaxValue], [-1], null, DataType.Double },
        { [3, -2], [0, 1], [0, 1], [-1, -1], DataType.Int32 },
        { [0], [3], [2], [2], DataType.Float16 },
        { [5], [10], [1], null, DataType.Float },
    };

    [Theory]
    [MemberData(nameof(SliceCases))]
    public void SliceGradScattersIntoTheSlicedRegion(long[] starts, long[] ends, long[]? axes, long[]? steps, DataType indexType)
    {
        var inputs = new List<Feed>
        {
            Feed.Float("x", Shape, Iota(Shape)),
            new("starts", indexType == DataType.Int32 ? DataType.Int32 : DataType.Int64, [starts.Length], starts),
            new("ends", indexType == DataType.Int32 ? DataType.Int32 : DataType.Int64, [ends.Length], ends.Select(e => indexType == DataType.Int32 ? Math.Clamp(e, int.MinValue, int.MaxValue) : e).ToArray()),
        };
        if (axes is not null || steps is not null)
        {
            inputs.Add(axes is null ? Feed.Absent : new("axes", inputs[1].Type, [axes.Length], axes));
        }
        if (steps is not null)
        {
            inputs.Add(new("steps", inputs[1].Type, [steps.Length], steps));
        }
        Fetched picked = OpHarness.RunSingle("Slice", inputs, DataType.Float, "");
        DataType valueType = indexType is DataType.Double or DataType.Float16 ? indexType : DataType.Float;
        double[] dy = GradCheck.Quantize(valueType, GradCheck.Uniform(new Random(starts.Length), picked.Values.Length));

        var gradInputs = new List<Feed> { Feed.Of("dy", valueType, picked.Shape, dy), Feed.Int64("shape", [Shape.Length], Shape) };
        gradInputs.AddRange(inputs.Skip(1));
        Fetched dx = OpHarness.RunSingle("SliceGrad", gradInputs, valueType);

        Assert.Equal(Shape, dx.Shape);
        Assert.Equal(ScatterAdd(picked.Values, dy, GradCheck.Count(Shape)), dx.Values);
    }

    [Theory]
    [InlineData(0L, new long[] { 3, 1, 3, 0 }, DataType.Float)]
    [InlineData(1L, new long[] { 4, -1, 0, 4, 2, 2 }, DataType.Float)]
    [InlineData(-1L, new long[] { 5 }, DataType.Double)]
    [InlineData(2L, new long[] { 1, 1, 1 }, DataType.Float16)]
    public void GatherGradSumsEveryPickBackIntoItsRow(long axis, long[] indices, DataType type)
    {
        long[] indexShape = indices.Length == 6 ? [2, 3] : [indices.Length];
        foreach (DataType indexType in new[] { DataType.Int64, DataType.Int32 })
        {
            Feed indexFeed = new("indices", indexType, indexShape, indices);
            Fetched picked = OpHarness.RunSingle("Gather", [Feed.Float("x", Shape, Iota(Shape)), indexFeed], DataType.Float, "",
                TinyModel.Attr("axis", axis));
            double[] dy = GradCheck.Quantize(type, Enumerable.Range(0, picked.Values.Length).Select(i => (double)((i * 7 % 11) - 5) / 4).ToArray());
            Fetched dx = OpHarness.RunSingle("GatherGrad",
                [Feed.Int64("shape", [Shape.Length], Shape), indexFeed, Feed.Of("dy", type, picked.Shape, dy)], type, OpHarness.Microsoft,
                TinyModel.Attr("axis", axis));
            Assert.Equal(Shape, dx.Shape);
            Assert.Equal(ScatterAdd(picked.Values, dy, GradCheck.Count(Shape)), dx.Values);
        }
    }

    [Theory]
    [InlineData(0L, DataType.Float)]
    [InlineData(1L, DataType.Double)]
    [InlineData(-1L, DataType.Float16)]
    public void GatherElementsGradSumsBackToThePickedElements(long axis, DataType type)
    {
        long[] indexShape = [3, 4, 6];
        indexShape[(int)(axis < 0 ? axis + 3 : axis)] = 7;  // more picks than rows: repeats accumulate
        int dim = (int)Shape[(int)(axis < 0 ? axis + 3 : axis)];
        var random = new Random((int)axis + 30);
        long[] indices = Enumerable.Range(0, (int)GradCheck.Count(indexShape)).Select(_ => (long)random.Next(-dim, dim)).ToArray();
        Feed indexFeed = Feed.Int64("indices", indexShape, indices);
        Fetched picked = OpHarness.RunSingle("GatherElements", [Feed.Float("x", Shape, Iota(Shape)), indexFeed], DataType.Float, "",
            TinyModel.Attr("axis", axis));
        double[] dy = GradCheck.Quantize(type, Enumerable.Range(0, picked.Values.Length).Select(i => (double)((i * 5 % 13) - 6) / 8).ToArray());
        Fetched dx = OpHarness.RunSingle("GatherElementsGrad",
            [Feed.Of("dy", type, indexShape, dy), Feed.Int64("shape", [Shape.Length], Shape), indexFeed], type, OpHarness.Microsoft,
            TinyModel.Attr("axis", axis));
        Assert.Equal(Shape, dx.Shape);
        Assert.Equal(ScatterAdd(picked.Values, dy, GradCheck.Count(Shape)), dx.Values);
    }

    [Fact]
    public void GatherGradOnAnEmbeddingTableWithRepeatsRunsInParallel()
    {
        // An embedding's backward: [vocab, hidden] table, many token ids, most rows repeated.
        long[] table = [1000, 16];
        var random = new Random(77);
        long[] ids = Enumerable.Range(0, 600).Select(_ => (long)random.Next(0, 120)).ToArray();
        Feed idFeed = Feed.Int64("ids", [20, 30], ids);
        Fetched picked = OpHarness.RunSingle("Gather", [Feed.Float("x", table, Iota(table)), idFeed], DataType.Float, "");
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, picked.Values.Length));
        var dx = OpHarness.RunWithThreads(4, "GatherGrad",
            [Feed.Int64("shape", [2], table), idFeed, Feed.Float("dy", picked.Shape, dy)], [("dx", DataType.Float)], OpHarness.Microsoft, 17)["dx"];
        GradCheck.AssertClose(dx.Values, ScatterAdd(picked.Values, dy, GradCheck.Count(table)), 1e-6, "GatherGrad embedding");
    }
}
