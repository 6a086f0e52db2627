using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>Facts about ONNX element types (TensorProto.DataType values).</summary>
public static class ElementTypes
{
    /// <summary>
    /// FLOAT (1): 32-bit IEEE float, the element type of nearly every exported activation and weight.
    /// </summary>
    public const int Float = (int)TensorProto.Types.DataType.Float;
    /// <summary>FLOAT16 (10): IEEE half precision.</summary>
    public const int Float16 = (int)TensorProto.Types.DataType.Float16;
    /// <summary>BFLOAT16 (16): float32's upper 16 bits.</summary>
    public const int BFloat16 = (int)TensorProto.Types.DataType.Bfloat16;
    /// <summary>DOUBLE (11): 64-bit IEEE float.</summary>
    public const int Double = (int)TensorProto.Types.DataType.Double;
    /// <summary>INT64 (7): the type of shapes, axes and indices in ONNX.</summary>
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    /// <summary>
    /// INT32 (6): in the typed form its values, like those of the narrower integer types and bool, sit
    /// in int32_data.
    /// </summary>
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    /// <summary>BOOL (9): one byte per element.</summary>
    public const int Bool = (int)TensorProto.Types.DataType.Bool;
    /// <summary>UINT8 (2): also the element type of this project's packed 2-bit activation codes.</summary>
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

    /// <summary>
    /// True for the float types the passes compute in (float, float16, bfloat16, double); float8 and
    /// float4 are not among them.
    /// </summary>
    public static bool IsFloatingPoint(int dataType) =>
        dataType is Float or Float16 or BFloat16 or Double;

    /// <summary>
    /// The type's lower-case enum name ("float", "int64", "bfloat16") for messages, or "type&lt;N&gt;"
    /// for a value outside the enum.
    /// </summary>
    public static string Name(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType)
            ? ((TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type{dataType}";
}
