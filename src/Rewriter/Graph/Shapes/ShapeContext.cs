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

    public ShapeContext(OnnxGraph graph, DimBindings bindings)
    {
        Graph = graph;
        Bindings = bindings;
    }

    public OnnxGraph Graph { get; }

    public DimBindings Bindings { get; }

    public IReadOnlyDictionary<string, TensorType> Types => _types;

    public TensorType? TypeOf(string? value) => value is not null && _types.TryGetValue(value, out TensorType? t) ? t : null;

    public TensorShape? ShapeOf(string? value) => TypeOf(value)?.Shape;

    public int ElementTypeOf(string? value) => TypeOf(value)?.ElementType ?? 0;

    /// <summary>Known values of a small integer tensor (each element as a dim), or null.</summary>
    public Dim[]? ValuesOf(string? value) => value is not null && _values.TryGetValue(value, out Dim[]? v) ? v : null;

    /// <summary>Known values as plain numbers when all are known, else null.</summary>
    public long[]? KnownValuesOf(string? value) =>
        ValuesOf(value) is { } dims && dims.All(d => d.IsKnown) ? dims.Select(d => d.Value!.Value).ToArray() : null;

    public void SetType(string? value, TensorType type)
    {
        if (string.IsNullOrEmpty(value)) return;
        var bound = type.Shape is null ? type : type with { Shape = new TensorShape(type.Shape.Dims.Select(Bindings.Bind).ToArray()) };
        _types[value] = _types.TryGetValue(value, out TensorType? declared) ? Merge(bound, declared) : bound;
    }

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
