using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// The kernels' own float16/bfloat16 conversions, over every one of the 65536 bit patterns:
/// ReGelu2Grad with every code 3 (level 1) must hand dY back bit for bit (widening then
/// narrowing is exact; NaN stays NaN), and with every code 1 (level a0) must round the float
/// product to nearest even exactly as System.Half (float16) or round-to-nearest-even on the
/// float bits (bfloat16) does, subnormals, overflow to infinity and signed zeros included.
/// </summary>
public class SixteenBitConversionTests
{
    [Theory]
    [InlineData(KernelElementType.Float16, 10.0f, 3)]
    [InlineData(KernelElementType.Float16, -1.0f, 1)]
    [InlineData(KernelElementType.BFloat16, 10.0f, 3)]
    [InlineData(KernelElementType.BFloat16, -1.0f, 1)]
    public void EveryBitPatternConvertsExactly(KernelElementType type, float x, int expectedCode)
    {
        const int n = 65536;
        float[] dy = Enumerable.Range(0, n).Select(bits => type.FromBits((uint)bits)).ToArray();
        OrtValue dyTensor = type == KernelElementType.Float16
            ? OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(b => new Float16((ushort)b)).ToArray(), [n])
            : OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(b => new BFloat16((ushort)b)).ToArray(), [n]);

        using var runner = new KernelRunner(KernelRunner.TwoBitPair("ReGelu2", type, [n]));
        var outputs = runner.Run(("X", type.CreateTensor(Enumerable.Repeat(x, n).ToArray(), [n])), ("dY", dyTensor));
        float[] dx = type.ReadFloats(outputs["dX"]);
        Assert.Equal(expectedCode, KernelReference.Unpack(outputs["Code"].GetTensorDataAsSpan<byte>(), 0));

        float level = (float)KernelReference.ReGelu2Levels[expectedCode];
        for (int bits = 0; bits < n; bits++)
        {
            float expected = type.Round(dy[bits] * level);
            bool same = float.IsNaN(expected) ? float.IsNaN(dx[bits]) : type.Bits(expected) == type.Bits(dx[bits]);
            Assert.True(same, $"{type} bits 0x{bits:X4}: dY {dy[bits]:R} * {level:R} gave {dx[bits]:R}, want {expected:R}");
        }
    }
}
