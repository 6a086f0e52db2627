using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// MsLayerNorm / MsRmsNorm and their gradients through ONNX Runtime. The forward pass is
/// compared with ONNX Runtime's own LayerNormalization (opset 17, scale 1, bias 0); the
/// gradients, which see only Z and InvStdDev, with a float64 reference of the original norm's
/// input gradient computed from X.
/// </summary>
public class MsNormTests
{
    private const float Epsilon = 1e-5f;

    public static TheoryData<long[], long> Shapes() => new()
    {
        { [4, 768], -1 },
        { [2, 4097], -1 },
        { [1, 11008], 1 },
        { [6, 1], -1 },
        { [3, 5], 1 },
        { [2, 3, 8], 1 },
        { [37], 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MsLayerNormMatchesOnnxLayerNormalization(long[] shape, long axis)
    {
        int n = (int)shape.Aggregate(1L, (a, b) => a * b);
        int axisIndex = (int)(axis < 0 ? axis + shape.Length : axis);
        long[] normalisedShape = shape[axisIndex..];
        int cols = (int)normalisedShape.Aggregate(1L, (a, b) => a * b);
        var dims = shape.Select(d => (long?)d).ToArray();
        var model = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float, dims)
            .Initializer(TinyModel.FloatTensor("Scale", normalisedShape, Enumerable.Repeat(1.0f, cols).ToArray()))
            .Initializer(TinyModel.FloatTensor("Bias", normalisedShape, new float[cols]))
            .OutputUnshaped("Z", TensorProto.Types.DataType.Float)
            .OutputUnshaped("InvStdDev", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Y", TensorProto.Types.DataType.Float)
            .OutputUnshaped("OrtInvStdDev", TensorProto.Types.DataType.Float)
            .Node("MsLayerNorm", ["X"], ["Z", "InvStdDev"], CustomOps.CustomOpLibrary.Domain, TinyModel.Attr("axis", axis), TinyModel.Attr("epsilon", Epsilon))
            .Node("LayerNormalization", ["X", "Scale", "Bias"], ["Y", "", "OrtInvStdDev"], "", TinyModel.Attr("axis", axis), TinyModel.Attr("epsilon", Epsilon));
        float[] x = TestData.Normal(n, seed: n, scale: 1.5, offset: 0.25);

        using var runner = new KernelRunner(model);
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(x, shape)));
        float[] z = outputs["Z"].GetTensorDataAsSpan<float>().ToArray();
        float[] y = outputs["Y"].GetTensorDataAsSpan<float>().ToArray();
        AssertClose(y, z, 1e-6, "Z vs LayerNormalization Y");
        AssertClose(outputs["OrtInvStdDev"].GetTensorDataAsSpan<float>().ToArray(), outputs["InvStdDev"].GetTensorDataAsSpan<float>().ToArray(), 1e-6, "InvStdDev");
        Assert.Equal(KernelRunner.Shape(outputs["OrtInvStdDev"]), KernelRunner.Shape(outputs["InvStdDev"]));
    }

    public static TheoryData<string, long[], long> GradientCases()
    {
        var data = new TheoryData<string, long[], long>();
        foreach (string op in new[] { "MsLayerNorm", "MsRmsNorm" })
        {
            foreach (var (shape, axis) in new (long[], long)[] { ([4, 768], -1), ([2, 4097], -1), ([1, 11008], -1), ([6, 1], -1), ([3, 5], 1), ([2, 3, 8], 1), ([64, 2048], -1) })
            {
                data.Add(op, shape, axis);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientFromOutputEqualsOriginalNormGradient(string op, long[] shape, long axis)
    {
        RunGradientCase(op, KernelElementType.Float32, shape, axis, forwardTolerance: 2e-6, gradientTolerance: 1e-5);
    }

    [Theory]
    [InlineData("MsLayerNorm", KernelElementType.Float16)]
    [InlineData("MsRmsNorm", KernelElementType.Float16)]
    [InlineData("MsLayerNorm", KernelElementType.BFloat16)]
    [InlineData("MsRmsNorm", KernelElementType.BFloat16)]
    public void SixteenBitTypesComputeInFloat(string op, KernelElementType type)
    {
        // Z is rounded to the type (half an ulp: 2^-11 for float16, 2^-8 for bfloat16) and the
        // gradient reads that rounded Z back, so the tolerance is a few ulps of the type.
        double ulp = type == KernelElementType.Float16 ? 1.0 / 1024 : 1.0 / 128;
        RunGradientCase(op, type, [3, 768], -1, forwardTolerance: ulp, gradientTolerance: 4 * ulp);
        RunGradientCase(op, type, [2, 4097], -1, forwardTolerance: ulp, gradientTolerance: 4 * ulp);
    }

    [Theory]
    [InlineData("MsLayerNorm")]
    [InlineData("MsRmsNorm")]
    public void EmptyTensorsKeepTheirShapes(string op)
    {
        using var runner = new KernelRunner(KernelRunner.NormPair(op, KernelElementType.Float32, [0, 768], -1, Epsilon));
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor([], [0, 768])), ("dZ", KernelElementType.Float32.CreateTensor([], [0, 768])));
        Assert.Equal([0, 768], KernelRunner.Shape(outputs["Z"]));
        Assert.Equal([0, 1], KernelRunner.Shape(outputs["InvStdDev"]));
        Assert.Equal([0, 768], KernelRunner.Shape(outputs["dX"]));
    }

    private static void RunGradientCase(string op, KernelElementType type, long[] shape, long axis, double forwardTolerance, double gradientTolerance)
    {
        bool centred = op == "MsLayerNorm";
        int n = (int)shape.Aggregate(1L, (a, b) => a * b);
        int axisIndex = (int)(axis < 0 ? axis + shape.Length : axis);
        int cols = (int)shape[axisIndex..].Aggregate(1L, (a, b) => a * b);
        int rows = n / cols;
        float[] x = TestData.Normal(n, seed: 3 * n + 1, scale: 1.5, offset: centred ? 0.5 : 0.0).Select(v => type.Round(v)).ToArray();
        float[] g = TestData.Normal(n, seed: 3 * n + 2, scale: 0.7).Select(v => type.Round(v)).ToArray();

        using var runner = new KernelRunner(KernelRunner.NormPair(op, type, shape, axis, Epsilon));
        var outputs = runner.Run(("X", type.CreateTensor(x, shape)), ("dZ", type.CreateTensor(g, shape)));
        float[] z = type.ReadFloats(outputs["Z"]);
        float[] rstd = outputs["InvStdDev"].GetTensorDataAsSpan<float>().ToArray();
        float[] dx = type.ReadFloats(outputs["dX"]);

        Assert.Equal(rows, rstd.Length);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * cols, cols);
            var gr = g.AsSpan(r * cols, cols);
            double mean = 0;
            if (centred)
            {
                foreach (float v in xr)
                {
                    mean += v;
                }
                mean /= cols;
            }
            double second = 0;
            foreach (float v in xr)
            {
                second += (v - mean) * (v - mean);
            }
            double expectedRstd = 1.0 / Math.Sqrt(second / cols + Epsilon);
            Assert.True(Math.Abs(rstd[r] - expectedRstd) <= 1e-6 * expectedRstd, $"{op} {type} row {r}: rstd {rstd[r]} vs {expectedRstd}");

            var expectedZ = new double[cols];
            for (int i = 0; i < cols; i++)
            {
                expectedZ[i] = (xr[i] - mean) * expectedRstd;
            }
            AssertClose(expectedZ, z.AsSpan(r * cols, cols).ToArray(), forwardTolerance, $"{op} {type} Z row {r}");
            double[] expectedDx = KernelReference.NormInputGradient(xr, gr, Epsilon, centred);
            // The gradient is a difference of terms of size rstd*|g|; where they cancel (RMS rows of
            // one element: dx = rstd g (1 - z^2) with z^2 ~ 1) the result is judged on that scale.
            double termScale = expectedRstd * gr.ToArray().Select(v => Math.Abs((double)v)).Max();
            AssertClose(expectedDx, dx.AsSpan(r * cols, cols).ToArray(), gradientTolerance, $"{op}Grad {type} dX row {r}", termScale);
        }
    }

    // Relative to the row's largest reference magnitude: single elements of a gradient can be
    // near zero through cancellation, where an elementwise relative error is meaningless.
    private static void AssertClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tolerance, string what) =>
        AssertClose(expected.Select(v => (double)v).ToArray(), actual.ToArray(), tolerance, what);

    private static void AssertClose(double[] expected, float[] actual, double tolerance, string what, double minimumScale = 1e-30)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(expected.Select(Math.Abs).DefaultIfEmpty(0).Max(), minimumScale);
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            Assert.True(error <= tolerance * scale, $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R} (error {error / scale:E2} of max |ref| {scale:G4})");
        }
    }
}
