using System.Buffers.Binary;
using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// Reads and writes the values of TensorProto initializers, whichever field holds them (raw_data,
/// the typed repeated fields, or external data). Values are widened to double or long for the
/// passes that fold constants; writers always use raw_data, the form exporters write.
/// </summary>
public static class TensorData
{
    /// <summary>Element count from dims; throws on negative dims or overflow.</summary>
    public static long ElementCount(TensorProto tensor, string modelFile = "<model>")
    {
        long count = 1;
        foreach (long dim in tensor.Dims)
        {
            if (dim < 0)
            {
                throw new InvalidModelException(modelFile, $"tensor '{tensor.Name}' has negative dimension {dim}");
            }
            try
            {
                count = checked(count * dim);
            }
            catch (OverflowException)
            {
                throw new ModelLimitException(modelFile, $"tensor '{tensor.Name}' has more elements than fit in 64 bits");
            }
        }
        return count;
    }

    /// <summary>Bytes the tensor's values occupy (packed), or null for string/unknown types.</summary>
    public static long? ByteSize(TensorProto tensor, string modelFile = "<model>") =>
        ElementTypes.ByteCount(tensor.DataType, ElementCount(tensor, modelFile));

    /// <summary>
    /// True when the tensor's bytes live in an external file (data_location EXTERNAL), so reading them
    /// needs the model's folder.
    /// </summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>
    /// The tensor's values widened to double, from raw_data, the typed field or external data (read
    /// through <paramref name="model"/>; without one, external data throws
    /// <see cref="ExternalDataException"/>). Throws <see cref="ModelException"/> when the stored count
    /// disagrees with the dims or the type has no numeric values.
    /// </summary>
    public static double[] ToDoubles(TensorProto tensor, OnnxModel? model = null)
    {
        string file = model?.FileName ?? "<model>";
        long count = ElementCount(tensor, file);
        if (count > Array.MaxLength)
        {
            throw new ModelLimitException(file, $"tensor '{tensor.Name}' has too many elements to read");
        }
        var values = new double[count];
        ReadOnlySpan<byte> raw = RawBytes(tensor, model, out bool hasRaw);
        if (hasRaw)
        {
            DecodeRaw(tensor, raw, values, file);
            return values;
        }
        switch (tensor.DataType)
        {
            case ElementTypes.Float:
                CheckCount(tensor, tensor.FloatData.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = tensor.FloatData[i];
                break;
            case ElementTypes.Double:
                CheckCount(tensor, tensor.DoubleData.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = tensor.DoubleData[i];
                break;
            case ElementTypes.Int64:
                CheckCount(tensor, tensor.Int64Data.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = tensor.Int64Data[i];
                break;
            case ElementTypes.Float16:
                CheckCount(tensor, tensor.Int32Data.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = (double)BitConverter.UInt16BitsToHalf((ushort)tensor.Int32Data[i]);
                break;
            case ElementTypes.BFloat16:
                CheckCount(tensor, tensor.Int32Data.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = BFloat16ToFloat((ushort)tensor.Int32Data[i]);
                break;
            case (int)TensorProto.Types.DataType.Uint64:
                CheckCount(tensor, tensor.Uint64Data.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = tensor.Uint64Data[i];
                break;
            default:
                // int32, int16, int8, uint8, uint16, bool: all stored in int32_data.
                if (ElementTypes.BitsPerElement(tensor.DataType) is null)
                {
                    throw new UnsupportedModelException(file, $"tensor '{tensor.Name}' of type {ElementTypes.Name(tensor.DataType)} has no numeric values");
                }
                CheckCount(tensor, tensor.Int32Data.Count, count, file);
                for (int i = 0; i < count; i++) values[i] = tensor.Int32Data[i];
                break;
        }
        return values;
    }

    /// <summary>
    /// The tensor's values as float (via <see cref="ToDoubles"/>, so float16 and bfloat16 widen
    /// exactly).
    /// </summary>
    public static float[] ToFloats(TensorProto tensor, OnnxModel? model = null) =>
        Array.ConvertAll(ToDoubles(tensor, model), v => (float)v);

    /// <summary>
    /// The tensor's values as long; int64 is read directly (no round trip through double, which would
    /// lose values past 2^53), other types are truncated toward zero.
    /// </summary>
    public static long[] ToInt64s(TensorProto tensor, OnnxModel? model = null)
    {
        if (tensor.DataType == ElementTypes.Int64 && !tensor.HasRawData && !IsExternal(tensor))
        {
            long count = ElementCount(tensor, model?.FileName ?? "<model>");
            CheckCount(tensor, tensor.Int64Data.Count, count, model?.FileName ?? "<model>");
            return [.. tensor.Int64Data];
        }
        if (tensor.DataType == ElementTypes.Int64)
        {
            ReadOnlySpan<byte> raw = RawBytes(tensor, model, out _);
            long count = ElementCount(tensor);
            CheckRawLength(tensor, raw.Length, count * 8, model?.FileName ?? "<model>");
            var result = new long[count];
            for (int i = 0; i < count; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
            return result;
        }
        return Array.ConvertAll(ToDoubles(tensor, model), v => (long)v);
    }

    /// <summary>A tensor of the given type whose values are <paramref name="values"/> rounded to it, stored in raw_data.</summary>
    public static TensorProto Create(string name, int dataType, IReadOnlyList<long> dims, ReadOnlySpan<double> values)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType };
        tensor.Dims.AddRange(dims);
        long expected = 1;
        foreach (long d in dims) expected = checked(expected * d);
        if (expected != values.Length)
        {
            throw new ArgumentException($"{values.Length} values for dims [{string.Join(",", dims)}]");
        }
        int bytesPer = (ElementTypes.BitsPerElement(dataType) ?? throw new ArgumentException($"type {dataType} has no fixed size")) / 8;
        var bytes = new byte[values.Length * bytesPer];
        Span<byte> span = bytes;
        for (int i = 0; i < values.Length; i++)
        {
            Span<byte> slot = span.Slice(i * bytesPer, bytesPer);
            switch (dataType)
            {
                case ElementTypes.Float: BinaryPrimitives.WriteSingleLittleEndian(slot, (float)values[i]); break;
                case ElementTypes.Double: BinaryPrimitives.WriteDoubleLittleEndian(slot, values[i]); break;
                case ElementTypes.Float16: BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)values[i]); break;
                case ElementTypes.BFloat16: BinaryPrimitives.WriteUInt16LittleEndian(slot, FloatToBFloat16((float)values[i])); break;
                case ElementTypes.Int64: BinaryPrimitives.WriteInt64LittleEndian(slot, (long)values[i]); break;
                case ElementTypes.Int32: BinaryPrimitives.WriteInt32LittleEndian(slot, (int)values[i]); break;
                case ElementTypes.Bool or ElementTypes.UInt8: slot[0] = (byte)values[i]; break;
                default: throw new ArgumentException($"writing type {ElementTypes.Name(dataType)} is not supported");
            }
        }
        tensor.RawData = ByteString.CopyFrom(bytes);
        return tensor;
    }

    /// <summary>
    /// An int64 tensor in raw_data (shapes, axes, indices); unlike <see cref="Create"/> the count of
    /// <paramref name="values"/> is not checked against <paramref name="dims"/>.
    /// </summary>
    public static TensorProto CreateInt64(string name, IReadOnlyList<long> dims, ReadOnlySpan<long> values)
    {
        var tensor = new TensorProto { Name = name, DataType = ElementTypes.Int64 };
        tensor.Dims.AddRange(dims);
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        tensor.RawData = ByteString.CopyFrom(bytes);
        return tensor;
    }

    /// <summary>Widens a bfloat16 bit pattern to float (exact: bfloat16 is float's upper half).</summary>
    public static float BFloat16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even conversion (NaN stays NaN).</summary>
    public static ushort FloatToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>
    /// The tensor's values packed little-endian at their own width, whichever field holds them
    /// (raw_data, a typed field, or external data): the same bytes for the same values however
    /// the file stored them, so digests of them compare across exporters and machines.
    /// </summary>
    public static byte[] PackedBytes(TensorProto tensor, OnnxModel? model = null)
    {
        string file = model?.FileName ?? "<model>";
        long count = ElementCount(tensor, file);
        ReadOnlySpan<byte> raw = RawBytes(tensor, model, out bool hasRaw);
        if (hasRaw)
        {
            return raw.ToArray();
        }
        int bits = ElementTypes.BitsPerElement(tensor.DataType)
            ?? throw new UnsupportedModelException(file, $"tensor '{tensor.Name}' of type {ElementTypes.Name(tensor.DataType)} has no numeric values");
        if (bits < 8 || count * (bits / 8) > Array.MaxLength)
        {
            throw new UnsupportedModelException(file, $"tensor '{tensor.Name}' of type {ElementTypes.Name(tensor.DataType)} cannot be packed here");
        }
        int size = bits / 8;
        var bytes = new byte[count * size];
        Span<byte> span = bytes;
        switch (tensor.DataType)
        {
            case ElementTypes.Float:
                CheckCount(tensor, tensor.FloatData.Count, count, file);
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteSingleLittleEndian(span[(i * 4)..], tensor.FloatData[i]);
                break;
            case ElementTypes.Double:
                CheckCount(tensor, tensor.DoubleData.Count, count, file);
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteDoubleLittleEndian(span[(i * 8)..], tensor.DoubleData[i]);
                break;
            case ElementTypes.Int64:
                CheckCount(tensor, tensor.Int64Data.Count, count, file);
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteInt64LittleEndian(span[(i * 8)..], tensor.Int64Data[i]);
                break;
            case (int)TensorProto.Types.DataType.Uint64:
            case (int)TensorProto.Types.DataType.Uint32:
                CheckCount(tensor, tensor.Uint64Data.Count, count, file);
                for (int i = 0; i < count; i++) WriteLowBytes(span.Slice(i * size, size), tensor.Uint64Data[i]);
                break;
            default:
                // int32, int16, int8, uint8, uint16, bool, float16, bfloat16: int32_data, low bytes.
                CheckCount(tensor, tensor.Int32Data.Count, count, file);
                for (int i = 0; i < count; i++) WriteLowBytes(span.Slice(i * size, size), (ulong)(uint)tensor.Int32Data[i]);
                break;
        }
        return bytes;
    }

    private static void WriteLowBytes(Span<byte> destination, ulong value)
    {
        for (int b = 0; b < destination.Length; b++) destination[b] = (byte)(value >> (8 * b));
    }

    private static ReadOnlySpan<byte> RawBytes(TensorProto tensor, OnnxModel? model, out bool hasRaw)
    {
        if (IsExternal(tensor))
        {
            if (model is null)
            {
                throw new ExternalDataException("<model>", $"tensor '{tensor.Name}': external data needs the model's folder");
            }
            hasRaw = true;
            return model.ReadExternal(tensor);
        }
        hasRaw = tensor.HasRawData;
        return hasRaw ? tensor.RawData.Span : default;
    }

    private static void DecodeRaw(TensorProto tensor, ReadOnlySpan<byte> raw, double[] values, string file)
    {
        int type = tensor.DataType;
        int bits = ElementTypes.BitsPerElement(type) ?? throw new UnsupportedModelException(file, $"tensor '{tensor.Name}' of type {ElementTypes.Name(type)} cannot be read as numbers");
        if (bits < 8)
        {
            throw new UnsupportedModelException(file, $"tensor '{tensor.Name}': sub-byte type {ElementTypes.Name(type)} is not supported here");
        }
        int size = bits / 8;
        CheckRawLength(tensor, raw.Length, (long)values.Length * size, file);
        for (int i = 0; i < values.Length; i++)
        {
            ReadOnlySpan<byte> s = raw.Slice(i * size, size);
            values[i] = (TensorProto.Types.DataType)type switch
            {
                TensorProto.Types.DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(s),
                TensorProto.Types.DataType.Double => BinaryPrimitives.ReadDoubleLittleEndian(s),
                TensorProto.Types.DataType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(s),
                TensorProto.Types.DataType.Bfloat16 => BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(s)),
                TensorProto.Types.DataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(s),
                TensorProto.Types.DataType.Uint64 => BinaryPrimitives.ReadUInt64LittleEndian(s),
                TensorProto.Types.DataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(s),
                TensorProto.Types.DataType.Uint32 => BinaryPrimitives.ReadUInt32LittleEndian(s),
                TensorProto.Types.DataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(s),
                TensorProto.Types.DataType.Uint16 => BinaryPrimitives.ReadUInt16LittleEndian(s),
                TensorProto.Types.DataType.Int8 => (sbyte)s[0],
                TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => s[0],
                _ => throw new UnsupportedModelException(file, $"tensor '{tensor.Name}' of type {ElementTypes.Name(type)} cannot be read as numbers"),
            };
        }
    }

    private static void CheckRawLength(TensorProto tensor, long actual, long expected, string file)
    {
        if (actual != expected)
        {
            throw new InvalidModelException(file, $"tensor '{tensor.Name}' has {actual} bytes of data but its dims and type need {expected}");
        }
    }

    private static void CheckCount(TensorProto tensor, int actual, long expected, string file)
    {
        if (actual != expected)
        {
            throw new InvalidModelException(file, $"tensor '{tensor.Name}' has {actual} values but its dims need {expected}");
        }
    }
}
