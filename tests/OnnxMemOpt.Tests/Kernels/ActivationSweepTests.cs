namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// ReGelu2 / ReSilu2 forward outputs over dense, deterministic input sets, on both CPU code paths
/// (AVX-512 where available, and the portable one), against the float64 reference: every
/// float16 and bfloat16 value; for float32 every 97th bit pattern of each sign with |x| in
/// [2^-8, 20] and every 9973rd across the whole finite range, plus the special values. Every
/// element must be within 1 ulp of the correctly rounded reference, with the sign of zeros right,
/// and its 2-bit code must follow the threshold rule.
/// </summary>
[Collection(nameof(CpuKernelPathCollection))]
public class ActivationSweepTests
{
    private const int Chunk = 1 << 19;
    private const uint DenseStride = 97;
    private const uint SparseStride = 9973;

    [Theory]
    [MemberData(nameof(TwoBitCases.EveryOpAlphaAndType), MemberType = typeof(TwoBitCases))]
    public void EverySweptInputIsWithinOneUlpOnBothCpuPaths(string op, float alpha, KernelElementType type)
    {
        float[] inputs = type == KernelElementType.Float32 ? Float32Sweep() : AllSixteenBitValues(type);
        // Results that must be exact zeros: references far below the smallest subnormal. Nearer to
        // it the float64 reference can sit on a rounding tie it cannot resolve (x * Phi(x) at the
        // smallest float x is just above half of it), and the 1-ulp rule is the contract there.
        double zeroBound = type.FromBits(1) / 4.0;
        (double[] thresholds, double divisor) = op == "ReGelu2"
            ? (KernelReference.ReGelu2Thresholds, 1.0)
            : (KernelReference.ReSilu2Thresholds, (double)alpha);
        var failures = new List<string>();
        using var runner = new KernelRunner(ForwardOnly(op, type, alpha), intraOpThreads: 2);
        var exact = new double[Chunk];
        for (int start = 0; start < inputs.Length; start += Chunk)
        {
            // A fixed chunk shape: the last chunk is padded with zeros, which are checked too.
            var x = new float[Chunk];
            Array.Copy(inputs, start, x, 0, Math.Min(Chunk, inputs.Length - start));
            Parallel.For(0, Chunk, i => exact[i] = op == "ReGelu2" ? KernelReference.Gelu(x[i]) : KernelReference.Silu(x[i], alpha));
            foreach (bool portable in new[] { false, true })
            {
                float[] y;
                byte[] code;
                using (CpuKernelPath.Force(portable))
                {
                    var outputs = runner.Run(("X", type.CreateTensor(x, [Chunk])));
                    y = type.ReadFloats(outputs["Y"]);
                    code = outputs["Code"].GetTensorDataAsSpan<byte>().ToArray();
                }
                for (int i = 0; i < Chunk && failures.Count < 10; i++)
                {
                    float xi = type.Round(x[i]);
                    if (KernelReference.Code(xi, thresholds, divisor) != KernelReference.Unpack(code, i))
                    {
                        failures.Add($"{(portable ? "portable" : "default")} path, code of x={xi:R}");
                    }
                    float expected = type.Round(exact[i]);
                    bool zeroRight = !(Math.Abs(exact[i]) < zeroBound) ||
                        (y[i] == 0.0f && float.IsNegative(y[i]) == double.IsNegative(exact[i]));
                    if (type.UlpDistance(y[i], expected) > 1 || !zeroRight)
                    {
                        failures.Add($"{(portable ? "portable" : "default")} path, x={x[i]:R}: y={y[i]:R}, reference {exact[i]:R}");
                    }
                }
            }
        }
        Assert.True(failures.Count == 0, $"{op} alpha={alpha} {type}, {inputs.Length} inputs: {string.Join("; ", failures)}");
    }

    /// <summary>
    /// ReGelu2 with table = "few-bit" (Few-Bit Backward's derivative-fitted 2-bit GELU table): the
    /// forward stays exact GELU, the codes follow that table's borders (strict >, including values
    /// one float either side of each border and at ±0, ±inf, NaN), and dX = level[code]·dY bit for
    /// bit, on both CPU paths.
    /// </summary>
    [Theory]
    [InlineData(KernelElementType.Float32)]
    [InlineData(KernelElementType.Float16)]
    [InlineData(KernelElementType.BFloat16)]
    public void FewBitTableGivesItsCodesAndLevels(KernelElementType type)
    {
        double[] thresholds = KernelReference.FewBitGelu2Thresholds;
        double[] levels = KernelReference.FewBitGelu2Levels;
        float[] x = TestData.ThresholdEdges(type, thresholds, 1.0).Concat(TestData.Normal(4096, seed: 3, scale: 1.0)).ToArray();
        int n = x.Length;
        float[] dy = TestData.Normal(n, seed: 4, scale: 2.0);
        using var runner = new KernelRunner(KernelRunner.TwoBitPair("ReGelu2", type, [n], table: "few-bit"));
        var seen = new HashSet<int>();
        foreach (bool portable in new[] { false, true })
        {
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
                Assert.True(type.UlpDistance(y[i], type.Round(KernelReference.Gelu(xi))) <= 1, $"{type} {(portable ? "portable" : "default")} path, x={xi:R}: y={y[i]:R}");
                int expectedCode = KernelReference.Code(xi, thresholds);
                Assert.True(expectedCode == KernelReference.Unpack(code, i), $"{type} {(portable ? "portable" : "default")} path, code of x={xi:R}");
                seen.Add(expectedCode);
                float expectedGrad = type.Round((float)levels[expectedCode] * type.Round(dy[i]));
                Assert.True(type.Bits(expectedGrad) == type.Bits(dx[i]) || (float.IsNaN(expectedGrad) && float.IsNaN(dx[i])),
                    $"{type} i={i}: dX={dx[i]:R}, want {expectedGrad:R}");
            }
        }
        Assert.Equal(4, seen.Count);
    }

    private static Support.TinyModel ForwardOnly(string op, KernelElementType type, float alpha) => new Support.TinyModel()
        .Input("X", type.DataType(), Chunk)
        .OutputUnshaped("Y", type.DataType())
        .OutputUnshaped("Code", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Uint8)
        .Node(op, ["X"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain,
            op == "ReSilu2" ? [Support.TinyModel.Attr("alpha", alpha)] : []);

    // Every 97th bit pattern where the functions are not trivial (|x| in [2^-8, 20]: both tails of
    // the exp/erf evaluation and the changes of interval of the tables), every 9973rd across the
    // whole finite range (subnormals, x / 2 near 0, the saturated ranges), each with both signs,
    // then the special values.
    private static float[] Float32Sweep()
    {
        var values = new List<float>();
        void AddBoth(uint bits)
        {
            float value = BitConverter.UInt32BitsToSingle(bits);
            values.Add(value);
            values.Add(-value);
        }
        for (uint bits = BitConverter.SingleToUInt32Bits(1.0f / 256); bits <= BitConverter.SingleToUInt32Bits(20.0f); bits += DenseStride)
        {
            AddBoth(bits);
        }
        for (uint bits = 0; bits < 0x7F80_0000u; bits += SparseStride)
        {
            AddBoth(bits);
        }
        values.AddRange([float.MaxValue, -float.MaxValue, float.Epsilon, -float.Epsilon, float.PositiveInfinity,
            float.NegativeInfinity, float.NaN]);
        return values.ToArray();
    }

    private static float[] AllSixteenBitValues(KernelElementType type) =>
        Enumerable.Range(0, 1 << 16).Select(bits => type.FromBits((uint)bits)).ToArray();
}
