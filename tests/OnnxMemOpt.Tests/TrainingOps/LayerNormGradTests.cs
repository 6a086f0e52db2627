using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// LayerNormalizationGrad, SimplifiedLayerNormalizationGrad and InvertibleLayerNormalizationGrad:
/// X_grad, scale_grad and bias_grad against central differences of the float64 normalization,
/// on last and non-last axes; the float64 forward is checked against ONNX Runtime's
/// LayerNormalization and SimplifiedLayerNormalization kernels, whose saved statistics are what a
/// real training graph feeds the gradient op.
/// </summary>
public class LayerNormGradTests
{
    private const double Epsilon = 1e-5;
    private static readonly long[] Shape = [2, 3, 4, 5];

    public static TheoryData<string, int, DataType> Cases()
    {
        var data = new TheoryData<string, int, DataType>();
        foreach (string op in new[] { "LayerNormalizationGrad", "SimplifiedLayerNormalizationGrad", "InvertibleLayerNormalizationGrad" })
        {
            foreach (int axis in new[] { -1, 2, 1 })
            {
                data.Add(op, axis, DataType.Float);
            }
            data.Add(op, -1, DataType.Double);
            data.Add(op, -2, DataType.Float16);
            data.Add(op, -1, DataType.Bfloat16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchFiniteDifferences(string op, int axis, DataType type)
    {
        var random = new Random(op.Length * 13 + axis * 7 + (int)type);
        bool rms = op.StartsWith("Simplified", StringComparison.Ordinal);
        bool invertible = op.StartsWith("Invertible", StringComparison.Ordinal);
        var (rows, width, _) = ReferenceMath.Blocks(Shape, axis, singleAxis: false);
        long[] scaleShape = Shape.Skip(axis < 0 ? Shape.Length + axis : axis).ToArray();
        double[] x = GradCheck.Quantize(type, GradCheck.Uniform(random, (int)(rows * width), -2, 2));
        double[] dy = GradCheck.Quantize(type, GradCheck.Uniform(random, x.Length));
        double[] scale = GradCheck.Quantize(type, GradCheck.Uniform(random, (int)width, 0.5, 1.5));
        double[] bias = rms ? new double[width] : GradCheck.Quantize(type, GradCheck.Uniform(random, (int)width, -0.5, 0.5));
        var (y, mean, inv) = ReferenceMath.LayerNorm(x, Shape, axis, scale, bias, Epsilon, rms);

        // Statistics are float ("U") except for double inputs, as ONNX Runtime's forward saves them.
        DataType statType = type == DataType.Double ? DataType.Double : DataType.Float;
        long[] statShape = Shape.Select((d, i) => i < Shape.Length - scaleShape.Length ? d : 1).ToArray();
        var inputs = new List<Feed> { Feed.Of("dy", type, Shape, dy) };
        if (invertible)
        {
            inputs.Add(Feed.Of("y", type, Shape, GradCheck.Quantize(type, y)));
            inputs.Add(Feed.Of("scale", type, scaleShape, scale));
            inputs.Add(Feed.Of("bias", type, scaleShape, bias));
        }
        else
        {
            inputs.Add(Feed.Of("x", type, Shape, x));
            inputs.Add(Feed.Of("scale", type, scaleShape, scale));
            if (!rms)
            {
                inputs.Add(Feed.Of("mean", statType, statShape, mean));
            }
        }
        inputs.Add(Feed.Of("inv", statType, statShape, inv));
        var outputs = new List<(string, DataType)> { ("dx", type), ("dscale", type) };
        if (!rms)
        {
            outputs.Add(("dbias", type));
        }
        var result = OpHarness.Run(op, inputs, outputs, OpHarness.Microsoft, 17, TinyModel.Attr("axis", (long)axis));

        double[] expectedDx = GradCheck.Gradient(v => ReferenceMath.LayerNorm(v, Shape, axis, scale, bias, Epsilon, rms).Y, x, dy);
        double[] expectedDscale = GradCheck.Gradient(v => ReferenceMath.LayerNorm(x, Shape, axis, v, bias, Epsilon, rms).Y, scale, dy);
        // The invertible form recovers x_hat from a rounded Y: half-precision types lose more there.
        double tolerance = GradCheck.Tolerance(type) * (invertible && type != DataType.Double ? 4 : 1);
        Assert.Equal(Shape, result["dx"].Shape);
        Assert.Equal(scaleShape, result["dscale"].Shape);
        GradCheck.AssertClose(result["dx"].Values, expectedDx, tolerance, $"{op} X_grad");
        GradCheck.AssertClose(result["dscale"].Values, expectedDscale, tolerance, $"{op} scale_grad");
        if (!rms)
        {
            double[] expectedDbias = GradCheck.Gradient(v => ReferenceMath.LayerNorm(x, Shape, axis, scale, v, Epsilon, rms).Y, bias, dy);
            GradCheck.AssertClose(result["dbias"].Values, expectedDbias, tolerance, $"{op} bias_grad");
        }
    }

    [Theory]
    [InlineData("LayerNormalization", -1)]
    [InlineData("LayerNormalization", 1)]
    [InlineData("SimplifiedLayerNormalization", -1)]
    [InlineData("SimplifiedLayerNormalization", 2)]
    public void ForwardReferenceMatchesOnnxRuntime(string op, int axis)
    {
        var random = new Random(axis + 11);
        bool rms = op.StartsWith("Simplified", StringComparison.Ordinal);
        var (rows, width, _) = ReferenceMath.Blocks(Shape, axis, singleAxis: false);
        long[] scaleShape = Shape.Skip(axis < 0 ? Shape.Length + axis : axis).ToArray();
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)(rows * width), -2, 2));
        double[] scale = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)width, 0.5, 1.5));
        double[] bias = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)width, -0.5, 0.5));
        var inputs = new List<Feed> { Feed.Float("x", Shape, x), Feed.Float("scale", scaleShape, scale) };
        var outputs = new List<(string, DataType)> { ("y", DataType.Float) };
        if (!rms)
        {
            inputs.Add(Feed.Float("bias", scaleShape, bias));
            outputs.Add(("mean", DataType.Float));
        }
        outputs.Add(("inv", DataType.Float));
        var result = OpHarness.Run(op, inputs, outputs, "", 17, TinyModel.Attr("axis", (long)axis), TinyModel.Attr("epsilon", (float)Epsilon));

        var (y, mean, inv) = ReferenceMath.LayerNorm(x, Shape, axis, scale, rms ? null : bias, Epsilon, rms);
        GradCheck.AssertClose(result["y"].Values, y, 1e-5, $"{op} Y");
        GradCheck.AssertClose(result["inv"].Values, inv, 1e-5, $"{op} inv_std");
        if (!rms)
        {
            GradCheck.AssertClose(result["mean"].Values, mean, 1e-5, $"{op} mean");
        }
    }
}
