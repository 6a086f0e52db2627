using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>Facts about ONNX element types (TensorProto.DataType values).</summary>
public static class ElementTypes
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int Float16 = (int)TensorProto.Types.DataType.Float16;
    public const int BFloat16 = (int)TensorProto.Types.DataType.Bfloat16;
    public const int Double = (int)TensorProto.Types.DataType.Double;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    public const int Bool = (int)TensorProto.Types.DataType.Bool;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;

    /// <summary>Storage bits of one element, or null for types with no fixed size (string, undefined).</summary>
    public static int? BitsPerElement(int dataType) => (TensorProto.Types.DataType)dataType switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 32,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64
            or TensorProto.Types.DataType.Complex64 => 64,
        TensorProto.Types.DataType.Complex128 => 128,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
            or TensorProto.Types.DataType.Uint16 => 16,
        TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Bool
            or TensorProto.Types.DataType.Float8E4M3Fn or TensorProto.Types.DataType.Float8E4M3Fnuz
            or TensorProto.Types.DataType.Float8E5M2 or TensorProto.Types.DataType.Float8E5M2Fnuz
            or TensorProto.Types.DataType.Float8E8M0 => 8,
        TensorProto.Types.DataType.Uint4 or TensorProto.Types.DataType.Int4 or TensorProto.Types.DataType.Float4E2M1 => 4,
        TensorProto.Types.DataType.Uint2 or TensorProto.Types.DataType.Int2 => 2,
        _ => null,
    };

    /// <summary>Bytes needed for <paramref name="elements"/> packed elements, or null if unknown.</summary>
    public static long? ByteCount(int dataType, long elements)
    {
        int? bits = BitsPerElement(dataType);
        if (bits is null || elements < 0)
        {
            return null;
        }
        // Sub-byte types pack and round up to whole bytes; a size past 64 bits is unknowable.
        if (elements > (long.MaxValue - 7) / bits.Value)
        {
            return null;
        }
        return (elements * bits.Value + 7) / 8;
    }

    public static bool IsFloatingPoint(int dataType) =>
        dataType is Float or Float16 or BFloat16 or Double;

    public static string Name(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType)
            ? ((TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type{dataType}";
}
