using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// ReGelu2 / ReSilu2 and their gradients through ONNX Runtime: the forward output against a
/// float64 reference rounded to the type (at most 1 ulp apart), every 2-bit code against the
/// threshold rule, and dX = level[code] * dY bit for bit (computed in float32, then rounded).
/// </summary>
public class TwoBitActivationTests
{
    public static TheoryData<string, float, KernelElementType, int> Cases()
    {
        var data = new TheoryData<string, float, KernelElementType, int>();
        foreach (KernelElementType type in Enum.GetValues<KernelElementType>())
        {
            foreach (int n in new[] { 1, 3, 5, 4097, 150_003 })
            {
                data.Add("ReGelu2", 1.0f, type, n);
                data.Add("ReSilu2", 1.0f, type, n);
            }
            data.Add("ReSilu2", 1.702f, type, 4099);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardCodesAndGradientMatchReference(string op, float alpha, KernelElementType type, int n)
    {
        float[] x = Inputs(op, alpha, type, n);
        float[] dy = TestData.Normal(n, seed: n + 7, scale: 2.0);
        if (n > 8)
        {
            dy[1] = float.PositiveInfinity;
            dy[2] = float.NaN;
            dy[3] = -0.0f;
        }

        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, [n], op == "ReSilu2" ? alpha : null));
        var outputs = runner.Run(("X", type.CreateTensor(x, [n])), ("dY", type.CreateTensor(dy, [n])));
        float[] y = type.ReadFloats(outputs["Y"]);
        ReadOnlySpan<byte> code = outputs["Code"].GetTensorDataAsSpan<byte>();
        float[] dx = type.ReadFloats(outputs["dX"]);

        Assert.Equal([(n + 3) / 4], KernelRunner.Shape(outputs["Code"]));
        (double[] thresholds, double[] levels) = Table(op);
        for (int i = 0; i < n; i++)
        {
            float xi = type.Round(x[i]);
            double exact = op == "ReGelu2" ? KernelReference.Gelu(xi) : KernelReference.Silu(xi, alpha);
            float expected = type.Round(exact);
            Assert.True(type.UlpDistance(y[i], expected) <= 1, $"{op} {type} x={xi:R}: y={y[i]:R}, reference {exact:R}");
            if (expected == 0.0f)
            {
                Assert.True(y[i] == 0.0f && float.IsNegative(y[i]) == float.IsNegative(expected), $"{op} {type} x={xi:R}: y={y[i]:R}, want {expected:R}");
            }

            int expectedCode = KernelReference.Code(xi, thresholds, op == "ReSilu2" ? alpha : 1.0);
            Assert.True(expectedCode == KernelReference.Unpack(code, i), $"{op} {type} code of x={xi:R}");

            float product = (float)levels[expectedCode] * type.Round(dy[i]);
            float expectedGrad = type.Round(product);
            Assert.True(type.Bits(expectedGrad) == type.Bits(dx[i]) || (float.IsNaN(expectedGrad) && float.IsNaN(dx[i])),
                $"{op}Grad {type} i={i}: dX={dx[i]:R}, want {expectedGrad:R}");
        }
        // Slots past the last element stay zero, so the packed bytes are deterministic.
        if (n % 4 != 0)
        {
            Assert.Equal(0, code[^1] >> (2 * (n % 4)));
        }
    }

    [Theory]
    [MemberData(nameof(TwoBitCases.EveryOpAlphaAndType), MemberType = typeof(TwoBitCases))]
    public void CodesAtThresholdsFollowStrictGreaterThan(string op, float alpha, KernelElementType type)
    {
        (double[] thresholds, _) = Table(op);
        double divisor = op == "ReSilu2" ? alpha : 1.0;
        float[] x = TestData.ThresholdEdges(type, thresholds, divisor);
        int n = x.Length;
        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, [n], op == "ReSilu2" ? alpha : null), intraOpThreads: 1);
        var outputs = runner.Run(("X", type.CreateTensor(x, [n])), ("dY", type.CreateTensor(new float[n], [n])));
        ReadOnlySpan<byte> code = outputs["Code"].GetTensorDataAsSpan<byte>();

        var codes = new int[n];
        for (int i = 0; i < n; i++)
        {
            codes[i] = KernelReference.Unpack(code, i);
            Assert.True(KernelReference.Code(type.Round(x[i]), thresholds, divisor) == codes[i], $"{op} {type} code of x={type.Round(x[i]):R}");
        }
        // +-0, +-inf, NaN: codes 2 (c1 < 0 < c2), 2, 3, 0, 0.
        Assert.Equal([2, 2, 3, 0, 0], codes[..5]);
        // Around each threshold the value below and the value above fall in adjacent intervals.
        for (int t = 0; t < 3; t++)
        {
            int below = codes[5 + 3 * t + 1];
            int above = codes[5 + 3 * t + 2];
            Assert.Equal((t, t + 1), (below, above));
        }
    }

    [Theory]
    [InlineData("ReGelu2", KernelElementType.Float32)]
    [InlineData("ReSilu2", KernelElementType.Float16)]
    [InlineData("ReGelu2", KernelElementType.BFloat16)]
    public void EmptyTensorsGiveEmptyOutputs(string op, KernelElementType type)
    {
        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, [2, 0]));
        var outputs = runner.Run(("X", type.CreateTensor([], [2, 0])), ("dY", type.CreateTensor([], [2, 0])));
        Assert.Equal([2, 0], KernelRunner.Shape(outputs["Y"]));
        Assert.Equal([0], KernelRunner.Shape(outputs["Code"]));
        Assert.Equal([2, 0], KernelRunner.Shape(outputs["dX"]));
    }

    [Fact]
    public void GradientRejectsCodeOfWrongLength()
    {
        var model = new Support.TinyModel()
            .Input("dY", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float, 10)
            .Input("Code", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Uint8, 2)
            .OutputUnshaped("dX", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float)
            .Node("ReGelu2Grad", ["dY", "Code"], ["dX"], CustomOps.CustomOpLibrary.Domain);
        using var runner = new KernelRunner(model);
        var error = Assert.Throws<OnnxRuntimeException>(() => runner.Run(
            ("dY", OrtValue.CreateTensorValueFromMemory(new float[10], [10])),
            ("Code", OrtValue.CreateTensorValueFromMemory(new byte[2], [2]))));
        Assert.Contains("needs 3", error.Message);
    }

    [Fact]
    public void UnknownTableIsRefusedWithItsName()
    {
        var error = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var runner = new KernelRunner(KernelRunner.TwoBitPair("ReGelu2", KernelElementType.Float32, [4], table: "three-bit"));
            runner.Run(("X", KernelElementType.Float32.CreateTensor(new float[4], [4])), ("dY", KernelElementType.Float32.CreateTensor(new float[4], [4])));
        });
        Assert.Contains("three-bit", error.Message, StringComparison.Ordinal);
    }

    private static (double[] Thresholds, double[] Levels) Table(string op) => op == "ReGelu2"
        ? (KernelReference.ReGelu2Thresholds, KernelReference.ReGelu2Levels)
        : (KernelReference.ReSilu2Thresholds, KernelReference.ReSilu2Levels);

    // Threshold edges, then a wide uniform range (both tails and saturation), then values near 0.
    private static float[] Inputs(string op, float alpha, KernelElementType type, int n)
    {
        (double[] thresholds, _) = Table(op);
        float[] edges = TestData.ThresholdEdges(type, thresholds, op == "ReSilu2" ? alpha : 1.0);
        float[] extremes = [-15.5f, -14.2f, -13.0f, 5.5f, 15.5f, 1e30f, -1e30f, float.MaxValue, -float.MaxValue, 1e-40f, -1e-40f];
        float[] wide = TestData.Uniform(n, seed: n, low: -20.0, high: 20.0);
        float[] near = TestData.Normal(n, seed: n + 1, scale: 1.5);
        return edges.Concat(extremes).Concat(wide.Zip(near, (a, b) => new[] { a, b }).SelectMany(p => p)).Take(n).ToArray();
    }
}
