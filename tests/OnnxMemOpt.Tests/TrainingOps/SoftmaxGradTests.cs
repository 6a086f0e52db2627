using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// SoftmaxGrad / LogSoftmaxGrad (coerce-to-2-D semantics, axis default 1) and their _13 forms
/// (single axis, default -1) against central differences of the float64 (log-)softmax, on first,
/// middle and last axes; the float64 forwards are checked against ONNX Runtime's Softmax and
/// LogSoftmax at opsets 11 and 13, whose outputs are what the gradient ops receive.
/// </summary>
public class SoftmaxGradTests
{
    private static readonly long[] Shape = [3, 4, 5];

    public static TheoryData<string, int, DataType> Cases()
    {
        var data = new TheoryData<string, int, DataType>();
        foreach (string op in new[] { "SoftmaxGrad_13", "LogSoftmaxGrad_13" })
        {
            foreach (int axis in new[] { -1, 1, 0 })
            {
                data.Add(op, axis, DataType.Float);
            }
        }
        foreach (string op in new[] { "SoftmaxGrad", "LogSoftmaxGrad" })
        {
            foreach (int axis in new[] { 1, 2, 0 })
            {
                data.Add(op, axis, DataType.Float);
            }
        }
        foreach (string op in new[] { "SoftmaxGrad_13", "SoftmaxGrad", "LogSoftmaxGrad_13", "LogSoftmaxGrad" })
        {
            data.Add(op, 1, DataType.Double);
            data.Add(op, 1, DataType.Float16);
        }
        data.Add("SoftmaxGrad_13", -1, DataType.Bfloat16);
        data.Add("SoftmaxGrad", 1, DataType.Bfloat16);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientMatchesFiniteDifferences(string op, int axis, DataType type)
    {
        var random = new Random(op.Length * 17 + axis + (int)type);
        bool single = op.EndsWith("_13", StringComparison.Ordinal);
        bool log = op.StartsWith("Log", StringComparison.Ordinal);
        int count = (int)GradCheck.Count(Shape);
        double[] x = GradCheck.Uniform(random, count, -3, 3);
        double[] dy = GradCheck.Quantize(type, GradCheck.Uniform(random, count));
        double[] y = GradCheck.Quantize(type, ReferenceMath.Softmax(x, Shape, axis, single, log));

        Fetched dx = OpHarness.RunSingle(op, [Feed.Of("dy", type, Shape, dy), Feed.Of("y", type, Shape, y)], type,
            OpHarness.Microsoft, TinyModel.Attr("axis", (long)axis));

        double[] expected = GradCheck.Gradient(v => ReferenceMath.Softmax(v, Shape, axis, single, log), x, dy);
        Assert.Equal(Shape, dx.Shape);
        GradCheck.AssertClose(dx.Values, expected, GradCheck.Tolerance(type) * (type == DataType.Double ? 1 : 2), $"{op} axis {axis} {type}");
    }

    [Fact]
    public void DefaultAxesFollowTheirOpsets()
    {
        // SoftmaxGrad defaults to axis 1 (flattened [3, 20]), SoftmaxGrad_13 to axis -1.
        var random = new Random(5);
        int count = (int)GradCheck.Count(Shape);
        double[] x = GradCheck.Uniform(random, count, -3, 3);
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, count));
        foreach (var (op, single, axis) in new[] { ("SoftmaxGrad", false, 1), ("SoftmaxGrad_13", true, -1) })
        {
            double[] y = GradCheck.Quantize(DataType.Float, ReferenceMath.Softmax(x, Shape, axis, single, log: false));
            Fetched dx = OpHarness.RunSingle(op, [Feed.Float("dy", Shape, dy), Feed.Float("y", Shape, y)], DataType.Float);
            double[] expected = GradCheck.Gradient(v => ReferenceMath.Softmax(v, Shape, axis, single, log: false), x, dy);
            GradCheck.AssertClose(dx.Values, expected, 4e-5, op);
        }
    }

    [Theory]
    [InlineData("Softmax", 13, 1)]
    [InlineData("Softmax", 13, -1)]
    [InlineData("Softmax", 11, 1)]
    [InlineData("LogSoftmax", 13, 0)]
    [InlineData("LogSoftmax", 11, 1)]
    public void ForwardReferenceMatchesOnnxRuntime(string op, long opset, int axis)
    {
        var random = new Random(axis + (int)opset);
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)GradCheck.Count(Shape), -3, 3));
        var result = OpHarness.Run(op, [Feed.Float("x", Shape, x)], [("y", DataType.Float)], "", opset, TinyModel.Attr("axis", (long)axis));
        double[] expected = ReferenceMath.Softmax(x, Shape, axis, singleAxis: opset >= 13, log: op == "LogSoftmax");
        GradCheck.AssertClose(result["y"].Values, expected, 2e-6, $"{op}-{opset} axis {axis}");
    }
}
