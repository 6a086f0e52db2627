using System.Globalization;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>One dimension: a number, a named symbol (e.g. "batch"), or unknown (both null).</summary>
public readonly record struct Dim(long? Value, string? Symbol)
{
    public static Dim Unknown => default;

    public static Dim Of(long value) => new(value, null);

    public static Dim Named(string symbol) => new(null, symbol);

    public bool IsKnown => Value.HasValue;

    public override string ToString() => Value?.ToString(CultureInfo.InvariantCulture) ?? Symbol ?? "?";
}

/// <summary>A tensor shape; <see cref="Dims"/> is null when even the rank is unknown.</summary>
public sealed record TensorShape(IReadOnlyList<Dim> Dims)
{
    public int Rank => Dims.Count;

    public bool IsFullyKnown => Dims.All(d => d.IsKnown);

    /// <summary>Number of elements when every dim is known, non-negative and the product fits in 64 bits, else null.</summary>
    public long? ElementCount
    {
        get
        {
            long count = 1;
            foreach (Dim d in Dims)
            {
                if (d.Value is not { } v || v < 0) return null;
                if (v != 0 && count > long.MaxValue / v) return null;
                count *= v;
            }
            return count;
        }
    }

    public static TensorShape Of(params long[] dims) => new(dims.Select(Dim.Of).ToArray());

    public static TensorShape Scalar { get; } = new(Array.Empty<Dim>());

    public bool Equals(TensorShape? other) => other is not null && Dims.SequenceEqual(other.Dims);

    public override int GetHashCode() => Dims.Aggregate(17, (h, d) => h * 31 + d.GetHashCode());

    public override string ToString() => $"[{string.Join(",", Dims)}]";

    /// <summary>
    /// True when the two shapes cannot be the same at run time: the ranks differ, or some dimension
    /// is a known number on both sides and the numbers differ. Symbols prove nothing either way.
    /// </summary>
    public bool ProvablyDiffersFrom(TensorShape other) =>
        Rank != other.Rank || Dims.Zip(other.Dims).Any(d => d.First.Value is { } a && d.Second.Value is { } b && a != b);

    public static TensorShape? FromProto(TensorShapeProto? proto)
    {
        if (proto is null) return null;
        return new TensorShape(proto.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => Dim.Of(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => Dim.Named(d.DimParam),
            _ => Dim.Unknown,
        }).ToArray());
    }
}

/// <summary>Element type and (possibly partial) shape of a value.</summary>
public sealed record TensorType(int ElementType, TensorShape? Shape)
{
    /// <summary>Bytes when element type and every dim are known, else null.</summary>
    public long? ByteSize => Shape?.ElementCount is { } n ? ElementTypes.ByteCount(ElementType, n) : null;

    public override string ToString() => $"{ElementTypes.Name(ElementType)}{Shape?.ToString() ?? "[?]"}";

    public static TensorType? FromProto(TypeProto? type) =>
        type?.TensorType is { } tensor ? new TensorType(tensor.ElemType, TensorShape.FromProto(tensor.Shape)) : null;

    public static TensorType FromTensor(TensorProto tensor) =>
        new(tensor.DataType, new TensorShape(tensor.Dims.Select(Dim.Of).ToArray()));
}
