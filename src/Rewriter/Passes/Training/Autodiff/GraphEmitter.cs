using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// Adds nodes and constants to a graph with fresh names, and writes the ops whose signature moved
/// between opsets (ReduceSum, Squeeze, Unsqueeze, Split: axes as attribute before opset 13, as an
/// input from 13) in the form the model's default-domain opset expects. Gradient rules and loss
/// heads build through it, so none of them needs to know the model's opset.
/// </summary>
public sealed class GraphEmitter
{
    /// <summary>
    /// ONNX Runtime's contrib domain, where the gradient ops live; emitting into it adds the opset
    /// import.
    /// </summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly Dictionary<string, string> _int64Constants = new(StringComparer.Ordinal);

    /// <summary>
    /// An emitter for <paramref name="graph"/> naming its nodes "<paramref name="namePrefix"/>op"; a
    /// model without a default-domain import is treated as opset 17.
    /// </summary>
    public GraphEmitter(OnnxGraph graph, string namePrefix)
    {
        Graph = graph;
        NamePrefix = namePrefix;
        Opset = graph.Model.OpsetVersion("") ?? 17;
    }

    /// <summary>The graph nodes and initializers are added to.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>Version of the default ONNX domain the model imports.</summary>
    public long Opset { get; }

    /// <summary>Prefix of every node name this emitter creates (e.g. "Grad/").</summary>
    public string NamePrefix { get; }

    /// <summary>Adds a one-output node and returns its output's name (derived from <paramref name="hint"/>).</summary>
    public string Op(string opType, IEnumerable<string> inputs, string hint, string domain = "", params AttributeProto[] attributes) =>
        OpMulti(opType, inputs, [hint], domain, attributes)[0];

    /// <summary>Adds a node with several outputs; a null hint leaves that output unnamed (omitted).</summary>
    public string[] OpMulti(string opType, IEnumerable<string> inputs, IReadOnlyList<string?> outputHints, string domain = "", params AttributeProto[] attributes)
    {
        if (domain == MicrosoftDomain)
        {
            Graph.Model.EnsureOpset(MicrosoftDomain, 1);
        }
        string[] outputs = outputHints.Select(h => h is null ? "" : Graph.UniqueName(h)).ToArray();
        Graph.AddNode(opType, inputs, outputs, domain, Graph.UniqueName(NamePrefix + opType), attributes);
        return outputs;
    }

    /// <summary>An int64 initializer with the given values (rank 1, or a scalar when <paramref name="scalar"/>); reused when asked twice.</summary>
    public string Int64s(IReadOnlyList<long> values, bool scalar = false)
    {
        string key = (scalar ? "s:" : "v:") + string.Join(",", values);
        if (_int64Constants.TryGetValue(key, out string? existing)) return existing;
        long[] dims = scalar ? [] : [values.Count];
        long[] data = values.ToArray();
        string name = AddInitializer(Graph, NamePrefix + "const_i64", n => TensorData.CreateInt64(n, dims, data));
        _int64Constants[key] = name;
        return name;
    }

    /// <summary>A scalar initializer of <paramref name="elementType"/> holding <paramref name="value"/>.</summary>
    public string Scalar(double value, int elementType, string hint = "const") =>
        AddInitializer(Graph, NamePrefix + hint, n => TensorData.Create(n, elementType, [], [value]));

    /// <summary>
    /// Elements of a new parameter of shape <paramref name="dims"/>, checked before anything is
    /// allocated: a hostile or broken model can declare dims whose product is absurd, and that must
    /// be a clear refusal naming the file, not an overflow.
    /// </summary>
    public static long ParameterElements(OnnxGraph graph, string name, params long[] dims)
    {
        long elements = 1;
        long limit = Math.Min(Array.MaxLength, graph.Model.Limits.MaxTensorBytes / sizeof(double));
        foreach (long d in dims)
        {
            if (d <= 0 || elements > limit / d)
            {
                throw new ModelLimitException(graph.Model.FileName, $"new parameter '{name}' would have shape [{string.Join(",", dims)}], which is empty or over the size limit");
            }
            elements *= d;
        }
        return elements;
    }

    /// <summary>An initializer with the given values and shape, named <paramref name="hint"/> when that name is free.</summary>
    public static string Tensor(OnnxGraph graph, string hint, int elementType, IReadOnlyList<long> dims, double[] values) =>
        AddInitializer(graph, hint, n => TensorData.Create(n, elementType, dims, values));

    /// <summary>Adds an initializer under <paramref name="hint"/>, or a fresh variant of it when taken.</summary>
    public static string AddInitializer(OnnxGraph graph, string hint, Func<string, TensorProto> create)
    {
        string name = graph.UniqueName(hint);
        graph.AddInitializer(create(name));
        return name;
    }

    /// <summary>An integer attribute for <see cref="Op"/>.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute for <see cref="Op"/>.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A string attribute for <see cref="Op"/>, stored as UTF-8.</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>An integer-list attribute for <see cref="Op"/> (axes, perm, split before opset 13).</summary>
    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>ReduceSum over constant axes (attribute before opset 13, input from 13).</summary>
    public string ReduceSum(string x, IReadOnlyList<long> axes, bool keepDims, string hint)
    {
        if (Opset >= 13)
        {
            return Op("ReduceSum", [x, Int64s(axes)], hint, "", Int("keepdims", keepDims ? 1 : 0));
        }
        return Op("ReduceSum", [x], hint, "", Ints("axes", axes), Int("keepdims", keepDims ? 1 : 0));
    }

    /// <summary>ReduceSum over axes computed at run time; an empty axes tensor reduces nothing (opset 13+ only).</summary>
    public string ReduceSumDynamic(string x, string axes, string hint)
    {
        if (Opset < 13)
        {
            throw new UnsupportedModelException(Graph.Model.FileName, $"reducing a gradient over broadcast axes only known at run time needs opset 13 or later (the model imports {Opset})");
        }
        return Op("ReduceSum", [x, axes], hint, "", Int("keepdims", 1), Int("noop_with_empty_axes", 1));
    }

    /// <summary>Unsqueeze at constant <paramref name="axes"/> (attribute before opset 13, input from 13).</summary>
    public string Unsqueeze(string x, IReadOnlyList<long> axes, string hint) =>
        Opset >= 13 ? Op("Unsqueeze", [x, Int64s(axes)], hint) : Op("Unsqueeze", [x], hint, "", Ints("axes", axes));

    /// <summary>Squeeze of constant <paramref name="axes"/> (attribute before opset 13, input from 13).</summary>
    public string Squeeze(string x, IReadOnlyList<long> axes, string hint) =>
        Opset >= 13 ? Op("Squeeze", [x, Int64s(axes)], hint) : Op("Squeeze", [x], hint, "", Ints("axes", axes));

    /// <summary>Split into pieces of the given sizes along <paramref name="axis"/>; sizes may be a constant list or a tensor (opset 13+).</summary>
    public string[] Split(string x, long axis, IReadOnlyList<long>? sizes, string? sizesTensor, IReadOnlyList<string> hints)
    {
        if (Opset >= 13)
        {
            string split = sizesTensor ?? Int64s(sizes ?? throw new ArgumentNullException(nameof(sizes)));
            return OpMulti("Split", [x, split], hints, "", Int("axis", axis));
        }
        if (sizes is null)
        {
            throw new UnsupportedModelException(Graph.Model.FileName, $"splitting a gradient into pieces of run-time sizes needs opset 13 or later (the model imports {Opset})");
        }
        return OpMulti("Split", [x], hints, "", Int("axis", axis), Ints("split", sizes));
    }

    /// <summary>Shape(x) as an int64 tensor.</summary>
    public string Shape(string x) => Op("Shape", [x], x + "_shape");

    /// <summary>dims <paramref name="start"/>..<paramref name="end"/> of Shape(x) (Shape-15's start/end written as a Slice for older opsets).</summary>
    public string ShapeSlice(string x, long start, long end)
    {
        string shape = Shape(x);
        return Op("Slice", [shape, Int64s([start]), Int64s([end]), Int64s([0])], x + "_shape_slice");
    }

    /// <summary>
    /// Cast of <paramref name="x"/> to <paramref name="elementType"/> (a TensorProto.DataType value).
    /// </summary>
    public string Cast(string x, int elementType, string hint) => Op("Cast", [x], hint, "", Int("to", elementType));
}
