using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>
/// What shape inference knows while it walks a graph: each value's type, and for small integer
/// tensors (shape arithmetic: Shape → Gather → Concat → Reshape) their values as dims, so that
/// symbolic sizes such as "batch" flow through the dynamic reshapes exporters write.
/// </summary>
public sealed class ShapeContext
{
    /// <summary>Integer tensors up to this many elements are tracked by value.</summary>
    public const int MaxTrackedElements = 64;

    private readonly Dictionary<string, TensorType> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dim[]> _values = new(StringComparer.Ordinal);

    /// <summary>
    /// Starts empty for <paramref name="graph"/>; every type and value recorded later has its symbols
    /// bound by <paramref name="bindings"/>.
    /// </summary>
    public ShapeContext(OnnxGraph graph, DimBindings bindings)
    {
        Graph = graph;
        Bindings = bindings;
    }

    /// <summary>The graph being inferred; constants' data is read through its model.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>The `--dim` values applied to every recorded type and value.</summary>
    public DimBindings Bindings { get; }

    /// <summary>Types known so far, by value name; the result of <see cref="ShapeInference.Infer"/>.</summary>
    public IReadOnlyDictionary<string, TensorType> Types => _types;

    /// <summary>
    /// The type recorded for <paramref name="value"/>, or null when unknown or when the name is null
    /// (an omitted input).
    /// </summary>
    public TensorType? TypeOf(string? value) => value is not null && _types.TryGetValue(value, out TensorType? t) ? t : null;

    /// <summary>The shape recorded for <paramref name="value"/>, or null when it or its rank is unknown.</summary>
    public TensorShape? ShapeOf(string? value) => TypeOf(value)?.Shape;

    /// <summary>The element type recorded for <paramref name="value"/>, or 0 (UNDEFINED) when unknown.</summary>
    public int ElementTypeOf(string? value) => TypeOf(value)?.ElementType ?? 0;

    /// <summary>Known values of a small integer tensor (each element as a dim), or null.</summary>
    public Dim[]? ValuesOf(string? value) => value is not null && _values.TryGetValue(value, out Dim[]? v) ? v : null;

    /// <summary>Known values as plain numbers when all are known, else null.</summary>
    public long[]? KnownValuesOf(string? value) =>
        ValuesOf(value) is { } dims && dims.All(d => d.IsKnown) ? dims.Select(d => d.Value!.Value).ToArray() : null;

    /// <summary>
    /// Records <paramref name="type"/> for <paramref name="value"/> with symbols bound, merged dim by
    /// dim with a type already recorded (the declared value_info), the new one winning on conflicts.
    /// Null or empty names are ignored.
    /// </summary>
    public void SetType(string? value, TensorType type)
    {
        if (string.IsNullOrEmpty(value)) return;
        var bound = type.Shape is null ? type : type with { Shape = new TensorShape(type.Shape.Dims.Select(Bindings.Bind).ToArray()) };
        _types[value] = _types.TryGetValue(value, out TensorType? declared) ? Merge(bound, declared) : bound;
    }

    /// <summary>
    /// Records the elements of a small integer tensor as dims (bound); ignored for null names and for
    /// tensors over <see cref="MaxTrackedElements"/>.
    /// </summary>
    public void SetValues(string? value, Dim[] values)
    {
        if (string.IsNullOrEmpty(value) || values.Length > MaxTrackedElements) return;
        _values[value] = values.Select(Bindings.Bind).ToArray();
    }

    /// <summary>Records a constant tensor (initializer or Constant node) and, if it is a small integer tensor, its values.</summary>
    public void SetConstant(string name, Onnx.Proto.TensorProto tensor)
    {
        SetType(name, TensorType.FromTensor(tensor));
        if (tensor.DataType is ElementTypes.Int64 or ElementTypes.Int32 && tensor.Dims.Aggregate(1L, (a, b) => a * b) <= MaxTrackedElements)
        {
            try
            {
                _values[name] = TensorData.ToInt64s(tensor, Graph.Model).Select(Dim.Of).ToArray();
            }
            catch (ModelException)
            {
                // A constant whose data cannot be read simply stays unknown for shape purposes.
            }
        }
    }

    /// <summary>Keeps, dim by dim, whatever is known in either type (inferred wins on conflicts).</summary>
    private static TensorType Merge(TensorType inferred, TensorType declared)
    {
        if (inferred.Shape is null) return inferred with { Shape = declared.Shape, ElementType = inferred.ElementType != 0 ? inferred.ElementType : declared.ElementType };
        if (declared.Shape is null || declared.Shape.Rank != inferred.Shape.Rank) return inferred;
        var dims = inferred.Shape.Dims.Zip(declared.Shape.Dims, PreferKnown).ToArray();
        return new TensorType(inferred.ElementType != 0 ? inferred.ElementType : declared.ElementType, new TensorShape(dims));
    }

    private static Dim PreferKnown(Dim inferred, Dim declared) =>
        inferred.IsKnown ? inferred : declared.IsKnown ? declared : new Dim(null, inferred.Symbol ?? declared.Symbol);
}
