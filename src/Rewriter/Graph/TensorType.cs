using System.Globalization;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>One dimension: a number, a named symbol (e.g. "batch"), or unknown (both null).</summary>
/// <param name="Value">The size, when known.</param>
/// <param name="Symbol">The dim_param name when the size is symbolic and unbound, else null.</param>
public readonly record struct Dim(long? Value, string? Symbol)
{
    /// <summary>A dimension nothing is known about: neither a number nor a symbol.</summary>
    public static Dim Unknown => default;

    /// <summary>A dimension of known size <paramref name="value"/>.</summary>
    public static Dim Of(long value) => new(value, null);

    /// <summary>
    /// A symbolic dimension (a dim_param such as "batch"), unknown in size until bound by
    /// <see cref="DimBindings"/>.
    /// </summary>
    public static Dim Named(string symbol) => new(null, symbol);

    /// <summary>True when the size is a number; a symbol alone does not count.</summary>
    public bool IsKnown => Value.HasValue;

    /// <summary>The number, else the symbol, else "?".</summary>
    public override string ToString() => Value?.ToString(CultureInfo.InvariantCulture) ?? Symbol ?? "?";
}

/// <summary>A tensor shape; <see cref="Dims"/> is null when even the rank is unknown.</summary>
/// <param name="Dims">The dimensions, outermost first.</param>
public sealed record TensorShape(IReadOnlyList<Dim> Dims)
{
    /// <summary>Number of dimensions.</summary>
    public int Rank => Dims.Count;

    /// <summary>True when every dimension is a number (symbols not bound count as unknown).</summary>
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

    /// <summary>A shape of known dimensions.</summary>
    public static TensorShape Of(params long[] dims) => new(dims.Select(Dim.Of).ToArray());

    /// <summary>The rank-0 shape of a scalar.</summary>
    public static TensorShape Scalar { get; } = new(Array.Empty<Dim>());

    /// <summary>Dimension-wise equality: records would compare the list by reference.</summary>
    public bool Equals(TensorShape? other) => other is not null && Dims.SequenceEqual(other.Dims);

    /// <summary>Hash over the dimensions, consistent with <see cref="Equals(TensorShape)"/>.</summary>
    public override int GetHashCode() => Dims.Aggregate(17, (h, d) => h * 31 + d.GetHashCode());

    /// <summary>`[d0,d1,...]` with numbers, symbols or "?".</summary>
    public override string ToString() => $"[{string.Join(",", Dims)}]";

    /// <summary>
    /// True when the two shapes cannot be the same at run time: the ranks differ, or some dimension
    /// is a known number on both sides and the numbers differ. Symbols prove nothing either way.
    /// </summary>
    public bool ProvablyDiffersFrom(TensorShape other) =>
        Rank != other.Rank || Dims.Zip(other.Dims).Any(d => d.First.Value is { } a && d.Second.Value is { } b && a != b);

    /// <summary>
    /// The shape a TensorShapeProto declares, or null when it is absent (rank unknown); empty
    /// dim_params become <see cref="Dim.Unknown"/>.
    /// </summary>
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
/// <param name="ElementType">TensorProto.DataType value (<see cref="ElementTypes"/>); 0 when unknown.</param>
/// <param name="Shape">The shape, or null when even the rank is unknown.</param>
public sealed record TensorType(int ElementType, TensorShape? Shape)
{
    /// <summary>Bytes when element type and every dim are known, else null.</summary>
    public long? ByteSize => Shape?.ElementCount is { } n ? ElementTypes.ByteCount(ElementType, n) : null;

    /// <summary>Element type and shape, e.g. "float[batch,128]"; "[?]" when the rank is unknown.</summary>
    public override string ToString() => $"{ElementTypes.Name(ElementType)}{Shape?.ToString() ?? "[?]"}";

    /// <summary>
    /// The tensor type a TypeProto declares, or null when it is absent or not a tensor (sequences,
    /// maps, optionals).
    /// </summary>
    public static TensorType? FromProto(TypeProto? type) =>
        type?.TensorType is { } tensor ? new TensorType(tensor.ElemType, TensorShape.FromProto(tensor.Shape)) : null;

    /// <summary>The type of a stored tensor: its data type and its fully known dims.</summary>
    public static TensorType FromTensor(TensorProto tensor) =>
        new(tensor.DataType, new TensorShape(tensor.Dims.Select(Dim.Of).ToArray()));
}
