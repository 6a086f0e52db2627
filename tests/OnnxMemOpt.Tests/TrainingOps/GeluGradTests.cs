using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// GeluGrad, FastGeluGrad, BiasGeluGrad_dX, BiasFastGeluGrad_dX and QuickGeluGrad against central
/// differences of the float64 forward; the forward references themselves are checked against
/// ONNX Runtime's own Gelu, FastGelu and QuickGelu kernels.
/// </summary>
public class GeluGradTests
{
    private static readonly long[] Shape = [3, 4, 10];
    private static readonly long[] BiasShape = [10];

    public static TheoryData<string, DataType> Cases()
    {
        var data = new TheoryData<string, DataType>();
        foreach (string op in new[] { "GeluGrad", "FastGeluGrad", "BiasGeluGrad_dX", "BiasFastGeluGrad_dX", "QuickGeluGrad" })
        {
            foreach (DataType type in new[] { DataType.Float, DataType.Double, DataType.Float16, DataType.Bfloat16 })
            {
                data.Add(op, type);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientMatchesFiniteDifferences(string op, DataType type)
    {
        var random = new Random(op.Length * 31 + (int)type);
        bool hasBias = op.StartsWith("Bias", StringComparison.Ordinal);
        int count = (int)GradCheck.Count(Shape);
        double[] x = GradCheck.Quantize(type, GradCheck.Uniform(random, count, -4, 4));
        double[] dy = GradCheck.Quantize(type, GradCheck.Uniform(random, count));
        double[] bias = GradCheck.Quantize(type, GradCheck.Uniform(random, (int)BiasShape[0], -0.5, 0.5));
        Func<double, double> forward = op.Contains("Fast", StringComparison.Ordinal) ? ReferenceMath.FastGelu
            : op == "QuickGeluGrad" ? v => ReferenceMath.QuickGelu(v, 1.702)
            : ReferenceMath.Gelu;

        var inputs = new List<Feed> { Feed.Of("dy", type, Shape, dy), Feed.Of("x", type, Shape, x) };
        if (hasBias)
        {
            inputs.Add(Feed.Of("b", type, BiasShape, bias));
        }
        Fetched dx = OpHarness.RunSingle(op, inputs, type);

        double[] expected = GradCheck.Gradient(
            v => v.Select((xi, i) => forward(xi + (hasBias ? bias[i % bias.Length] : 0))).ToArray(), x, dy);
        Assert.Equal(Shape, dx.Shape);
        GradCheck.AssertClose(dx.Values, expected, GradCheck.Tolerance(type), $"{op} {type}");
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)]
    public void QuickGeluGradHonoursAlpha(double alpha)
    {
        var random = new Random(7);
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 40, -6, 6));
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 40));
        Fetched dx = OpHarness.RunSingle("QuickGeluGrad",
            [Feed.Float("dy", [40], dy), Feed.Float("x", [40], x)], DataType.Float, OpHarness.Microsoft,
            TinyModel.Attr("alpha", (float)alpha));
        double[] expected = GradCheck.Gradient(v => v.Select(xi => ReferenceMath.QuickGelu(xi, (float)alpha)).ToArray(), x, dy);
        GradCheck.AssertClose(dx.Values, expected, 2e-5, "QuickGeluGrad");
    }

    [Theory]
    [InlineData("Gelu")]
    [InlineData("FastGelu")]
    [InlineData("QuickGelu")]
    public void ForwardReferenceMatchesOnnxRuntime(string op)
    {
        var random = new Random(3);
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 200, -6, 6));
        Fetched y = OpHarness.RunSingle(op, [Feed.Float("x", [200], x)], DataType.Float);
        Func<double, double> reference = op switch
        {
            "Gelu" => ReferenceMath.Gelu,
            "FastGelu" => ReferenceMath.FastGelu,
            _ => v => ReferenceMath.QuickGelu(v, 1.702),
        };
        GradCheck.AssertClose(y.Values, x.Select(reference).ToArray(), 2e-6, $"{op} forward");
    }
}
