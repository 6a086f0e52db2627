using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>The element types every kernel is registered for.</summary>
public enum KernelElementType
{
    Float32,
    Float16,
    BFloat16,
}

/// <summary>
/// Moves float test data into and out of ONNX Runtime tensors of a <see cref="KernelElementType"/>,
/// and measures distances in units in the last place of that type. Rounding to 16-bit types is
/// done here, independently of the kernels' own conversions: System.Half for float16, round to
/// nearest even on the float bits for bfloat16.
/// </summary>
public static class KernelElementTypes
{
    public static TensorProto.Types.DataType DataType(this KernelElementType type) => type switch
    {
        KernelElementType.Float32 => TensorProto.Types.DataType.Float,
        KernelElementType.Float16 => TensorProto.Types.DataType.Float16,
        KernelElementType.BFloat16 => TensorProto.Types.DataType.Bfloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Bits of the element in its own type, as an unsigned integer (for ulp distances and bit equality).</summary>
    public static uint Bits(this KernelElementType type, float value) => type switch
    {
        KernelElementType.Float32 => BitConverter.SingleToUInt32Bits(value),
        KernelElementType.Float16 => BitConverter.HalfToUInt16Bits((Half)value),
        KernelElementType.BFloat16 => BFloat16Bits(value),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The value with the given bits in the type, as a float.</summary>
    public static float FromBits(this KernelElementType type, uint bits) => type switch
    {
        KernelElementType.Float32 => BitConverter.UInt32BitsToSingle(bits),
        KernelElementType.Float16 => (float)BitConverter.UInt16BitsToHalf((ushort)bits),
        KernelElementType.BFloat16 => BitConverter.UInt32BitsToSingle(bits << 16),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The neighbour of a finite nonzero value of the type, one ulp up (+1) or down (-1).</summary>
    public static float Neighbour(this KernelElementType type, float value, int direction)
    {
        uint bits = type.Bits(value);
        bool negative = value < 0;
        return type.FromBits((direction > 0) != negative ? bits + 1 : bits - 1);
    }

    /// <summary>The value of the type nearest to <paramref name="value"/> (ties to even), as a float.</summary>
    public static float Round(this KernelElementType type, double value) => type switch
    {
        KernelElementType.Float32 => (float)value,
        KernelElementType.Float16 => (float)(Half)value,
        // Through float first: a double rounding, at most one bfloat16 ulp off, which the tests allow.
        KernelElementType.BFloat16 => BitConverter.Int32BitsToSingle((int)(BFloat16Bits((float)value) << 16)),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static OrtValue CreateTensor(this KernelElementType type, float[] values, long[] shape) => type switch
    {
        KernelElementType.Float32 => OrtValue.CreateTensorValueFromMemory(values.ToArray(), shape),
        KernelElementType.Float16 => OrtValue.CreateTensorValueFromMemory(
            values.Select(v => new Float16(BitConverter.HalfToUInt16Bits((Half)v))).ToArray(), shape),
        KernelElementType.BFloat16 => OrtValue.CreateTensorValueFromMemory(
            values.Select(v => new BFloat16((ushort)BFloat16Bits(v))).ToArray(), shape),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>A tensor's elements widened to float (exact for all three types).</summary>
    public static float[] ReadFloats(this KernelElementType type, OrtValue value) => type switch
    {
        KernelElementType.Float32 => value.GetTensorDataAsSpan<float>().ToArray(),
        KernelElementType.Float16 => value.GetTensorDataAsSpan<Float16>().ToArray()
            .Select(h => (float)BitConverter.UInt16BitsToHalf(h.value)).ToArray(),
        KernelElementType.BFloat16 => value.GetTensorDataAsSpan<BFloat16>().ToArray()
            .Select(b => BitConverter.Int32BitsToSingle(b.value << 16)).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>
    /// Distance in ulps of the type between two of its values; 0 for two NaNs and for +0/-0
    /// (zeros are compared separately where the sign matters), uint.MaxValue for NaN vs a number.
    /// </summary>
    public static long UlpDistance(this KernelElementType type, float a, float b)
    {
        if (float.IsNaN(a) || float.IsNaN(b))
        {
            return float.IsNaN(a) && float.IsNaN(b) ? 0 : uint.MaxValue;
        }
        int signBit = type == KernelElementType.Float32 ? 31 : 15;
        return Math.Abs(Ordered(type.Bits(a), signBit) - Ordered(type.Bits(b), signBit));
    }

    // Maps sign-magnitude bits onto a line where adjacent values differ by one; -0 and +0 meet at 0.
    private static long Ordered(uint bits, int signBit)
    {
        long magnitude = bits & ((1u << signBit) - 1);
        return (bits >> signBit) != 0 ? -magnitude : magnitude;
    }

    private static uint BFloat16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (bits >> 16) | 0x40u;
        }
        return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    }
}
