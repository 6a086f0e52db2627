using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// ReGelu2/ReSilu2 with table = "calibrated": the thresholds and levels come from the node's float
/// attributes (thresholds in units of x, for SiLU too, whatever alpha is), on both CPU paths
/// (default AVX-512 where the CPU has it, and ONNXMEMOPT_CPU_KERNELS=portable's code), for every
/// element type; malformed attributes are refused when the session is created.
/// </summary>
public class CalibratedTableKernelTests
{
    // Unlike either published table: asymmetric, not at multiples of 1/64, levels of either sign.
    private static readonly float[] Thresholds = [-1.3125f, 0.046875f, 2.71875f];
    private static readonly float[] Levels = [-0.0625f, 0.28125f, 0.90625f, 1.046875f];

    [Theory]
    [InlineData("ReGelu2", KernelElementType.Float32)]
    [InlineData("ReGelu2", KernelElementType.Float16)]
    [InlineData("ReGelu2", KernelElementType.BFloat16)]
    [InlineData("ReSilu2", KernelElementType.Float32)]
    [InlineData("ReSilu2", KernelElementType.BFloat16)]
    public void CalibratedAttributesGiveTheirCodesAndLevels(string op, KernelElementType type)
    {
        double[] thresholds = Thresholds.Select(t => (double)t).ToArray();
        float? alpha = op == "ReSilu2" ? 1.702f : null;
        float[] x = TestData.ThresholdEdges(type, thresholds).Concat(TestData.Normal(4096, seed: 7, scale: 2.0)).ToArray();
        int n = x.Length;
        float[] dy = TestData.Normal(n, seed: 8, scale: 2.0);
        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, [n], alpha, "calibrated",
            TinyModel.Attr("thresholds", Thresholds), TinyModel.Attr("levels", Levels)));
        var seen = new HashSet<int>();
        foreach (bool portable in new[] { false, true })
        {
            string path = portable ? "portable" : "default";
            float[] y, dx;
            byte[] code;
            using (CpuKernelPath.Force(portable))
            {
                var outputs = runner.Run(("X", type.CreateTensor(x, [n])), ("dY", type.CreateTensor(dy, [n])));
                y = type.ReadFloats(outputs["Y"]);
                code = outputs["Code"].GetTensorDataAsSpan<byte>().ToArray();
                dx = type.ReadFloats(outputs["dX"]);
            }
            for (int i = 0; i < n; i++)
            {
                float xi = type.Round(x[i]);
                double exact = alpha is { } a ? KernelReference.Silu(xi, a) : KernelReference.Gelu(xi);
                Assert.True(type.UlpDistance(y[i], type.Round(exact)) <= 1 || (float.IsNaN(xi) && float.IsNaN(y[i])), $"{op} {type} {path} path, x={xi:R}: y={y[i]:R}");
                int expectedCode = KernelReference.Code(xi, thresholds);
                Assert.True(expectedCode == KernelReference.Unpack(code, i), $"{op} {type} {path} path, code of x={xi:R}");
                seen.Add(expectedCode);
                float expectedGrad = type.Round(Levels[expectedCode] * type.Round(dy[i]));
                Assert.True(type.Bits(expectedGrad) == type.Bits(dx[i]) || (float.IsNaN(expectedGrad) && float.IsNaN(dx[i])),
                    $"{op} {type} {path} path, i={i}: dX={dx[i]:R}, want {expectedGrad:R}");
            }
        }
        Assert.Equal(4, seen.Count);
    }

    [Theory]
    [InlineData("ReGelu2", "thresholds", new[] { 0.5f, 0.5f, 1f }, "increase strictly")]
    [InlineData("ReGelu2", "thresholds", new[] { 0.5f, 1f }, "thresholds with 3 floats")]
    [InlineData("ReSilu2", "levels", new[] { 0f, 1f, float.NaN, 1f }, "non-finite")]
    public void MalformedCalibratedAttributesAreRefused(string op, string attribute, float[] values, string reason)
    {
        var attributes = new[] { TinyModel.Attr("thresholds", Thresholds), TinyModel.Attr("levels", Levels) }
            .Where(a => a.Name != attribute).Append(TinyModel.Attr(attribute, values)).ToArray();
        var error = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, KernelElementType.Float32, [8], op == "ReSilu2" ? 1f : null, "calibrated", attributes));
            runner.Run(("X", KernelElementType.Float32.CreateTensor(new float[8], [8])), ("dY", KernelElementType.Float32.CreateTensor(new float[8], [8])));
        });
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CalibratedTableWithoutItsAttributesIsRefused()
    {
        var error = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var runner = new KernelRunner(KernelRunner.TwoBitPair("ReGelu2", KernelElementType.Float32, [8], table: "calibrated"));
        });
        Assert.Contains("needs attribute thresholds", error.Message, StringComparison.Ordinal);
    }
}
