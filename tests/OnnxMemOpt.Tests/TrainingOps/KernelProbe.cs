using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>Where a node's kernel comes from, or why it has none.</summary>
internal enum KernelSource
{
    Stock,
    Library,
    Missing,
    Excluded,
    Unprobed,
}

internal sealed record ProbeResult(string Model, NodeProto Node, KernelSource Source, string Detail)
{
    public string OpKey => $"{(Node.Domain.Length == 0 ? "ai.onnx" : Node.Domain)}:{Node.OpType}";
}

/// <summary>
/// Decides, node by node, whether stock ONNX Runtime or stock ONNX Runtime plus the project's
/// custom-op library can run a graph. Each node becomes a one-node model with the graph's opsets,
/// the node's attributes, its consumed initializers, and inputs typed as in the graph; creating an
/// InferenceSession on it succeeds exactly when ONNX Runtime finds a schema and a kernel for that
/// (domain, op, input types, attributes). Input types come from the graph's inputs, initializers
/// and value_info, and otherwise from the output types ONNX Runtime inferred when it accepted the
/// producing node's one-node model, so types flow through the graph in topological order.
/// Ops that cannot exist outside PyTorch or take sequences are excluded (<see cref="Exclusions"/>);
/// their outputs keep their value_info types so the nodes after them can still be probed.
/// </summary>
internal sealed class KernelProbe
{
    /// <summary>YieldOp and ATen call back into PyTorch (ORTModule only); AdamWOptimizer takes
    /// sequence inputs, which a custom op cannot declare (the trainer implements it instead).</summary>
    public static readonly IReadOnlySet<string> Exclusions = new HashSet<string>
    {
        "com.microsoft:YieldOp", "org.pytorch.aten:ATen", "com.microsoft:AdamWOptimizer",
    };

    private readonly ModelProto _model;
    private readonly string _name;
    private readonly Dictionary<string, TypeProto> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (KernelSource Source, string Detail, List<TypeProto?> Outputs)> _cache = new(StringComparer.Ordinal);

    public KernelProbe(ModelProto model, string name)
    {
        _model = model;
        _name = name;
        foreach (TensorProto initializer in model.Graph.Initializer)
        {
            _initializers[initializer.Name] = initializer;
            var shape = new TensorShapeProto();
            shape.Dim.AddRange(initializer.Dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
            _types[initializer.Name] = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = initializer.DataType, Shape = shape } };
        }
        foreach (ValueInfoProto info in model.Graph.Input.Concat(model.Graph.ValueInfo).Concat(model.Graph.Output))
        {
            if (info.Type is not null && info.Type.ValueCase != TypeProto.ValueOneofCase.None)
            {
                _types[info.Name] = info.Type;
            }
        }
    }

    public IEnumerable<ProbeResult> ProbeAll()
    {
        foreach (NodeProto node in _model.Graph.Node)
        {
            yield return Probe(node);
        }
    }

    private ProbeResult Probe(NodeProto node)
    {
        string opKey = $"{(node.Domain.Length == 0 ? "ai.onnx" : node.Domain)}:{node.OpType}";
        if (Exclusions.Contains(opKey))
        {
            if (node.OpType == "YieldOp")
            {
                InferYieldOutputs(node);
            }
            return new ProbeResult(_name, node, KernelSource.Excluded, "runs only inside PyTorch or takes sequences");
        }
        string? untyped = node.Input.FirstOrDefault(i => i.Length > 0 && !_types.ContainsKey(i));
        if (untyped is not null)
        {
            return new ProbeResult(_name, node, KernelSource.Unprobed, $"type of input '{untyped}' is unknown");
        }

        ModelProto single = OneNodeModel(node);
        string key = CacheKey(single);
        if (!_cache.TryGetValue(key, out var outcome))
        {
            outcome = Classify(single);
            _cache[key] = outcome;
        }
        var named = node.Output.Where(o => o.Length > 0).ToList();
        for (int i = 0; i < named.Count && i < outcome.Outputs.Count; i++)
        {
            if (!_types.ContainsKey(named[i]) && outcome.Outputs[i] is { } inferred)
            {
                _types[named[i]] = inferred;
            }
        }
        return new ProbeResult(_name, node, outcome.Source, outcome.Detail);
    }

    private static (KernelSource, string, List<TypeProto?>) Classify(ModelProto single)
    {
        byte[] bytes = single.ToByteArray();
        if (TryCreate(bytes, registerLibrary: false, out var stockTypes) is null)
        {
            return (KernelSource.Stock, "stock ONNX Runtime", stockTypes);
        }
        string? libraryError = TryCreate(bytes, registerLibrary: true, out var types);
        return libraryError is null
            ? (KernelSource.Library, "libonnxmemopt_ops", types)
            : (KernelSource.Missing, libraryError, types);
    }

    private static string? TryCreate(byte[] model, bool registerLibrary, out List<TypeProto?> outputTypes)
    {
        outputTypes = [];
        try
        {
            using InferenceSession session = OrtRunner.CreateSession(model, registerLibrary);
            var parsed = ModelProto.Parser.ParseFrom(model);
            foreach (ValueInfoProto output in parsed.Graph.Output)
            {
                outputTypes.Add(ToTypeProto(session.OutputMetadata[output.Name]));
            }
            return null;
        }
        catch (OnnxRuntimeException e)
        {
            return e.Message;
        }
    }

    private ModelProto OneNodeModel(NodeProto node)
    {
        var graph = new GraphProto { Name = "probe" };
        graph.Node.Add(node.Clone());
        foreach (string input in node.Input.Where(i => i.Length > 0).Distinct())
        {
            if (_initializers.TryGetValue(input, out TensorProto? initializer))
            {
                graph.Initializer.Add(initializer.Clone());
            }
            else
            {
                graph.Input.Add(new ValueInfoProto { Name = input, Type = _types[input].Clone() });
            }
        }
        // Every named output becomes a graph output; those the graph does not type are left
        // untyped for ONNX Runtime to infer (and report back through OutputMetadata). A skipped
        // optional output ("") stays skipped.
        foreach (string output in node.Output.Where(o => o.Length > 0))
        {
            var info = new ValueInfoProto { Name = output };
            if (_types.TryGetValue(output, out TypeProto? type))
            {
                info.Type = type.Clone();
            }
            graph.Output.Add(info);
        }
        var model = new ModelProto { IrVersion = Math.Max(_model.IrVersion, 7), ProducerName = "KernelProbe", Graph = graph };
        model.OpsetImport.AddRange(_model.OpsetImport.Select(o => o.Clone()));
        return model;
    }

    private void InferYieldOutputs(NodeProto node)
    {
        // YieldOp returns the gradients of the module outputs that are differentiable: output j
        // has the type of the j-th input not listed in non_differentiable_outputs.
        var skipped = node.Attribute.FirstOrDefault(a => a.Name == "non_differentiable_outputs")?.Ints.ToHashSet() ?? [];
        var sources = node.Input.Where((_, i) => !skipped.Contains(i)).ToList();
        for (int j = 0; j < node.Output.Count && j < sources.Count; j++)
        {
            if (!_types.ContainsKey(node.Output[j]) && _types.TryGetValue(sources[j], out TypeProto? type))
            {
                _types[node.Output[j]] = type;
            }
        }
    }

    private static TypeProto? ToTypeProto(NodeMetadata metadata)
    {
        if (metadata.OnnxValueType != OnnxValueType.ONNX_TYPE_TENSOR)
        {
            return null;
        }
        var shape = new TensorShapeProto();
        foreach (int dim in metadata.Dimensions)
        {
            shape.Dim.Add(dim >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = dim } : new TensorShapeProto.Types.Dimension());
        }
        return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)metadata.ElementDataType, Shape = shape } };
    }

    private static string CacheKey(ModelProto single)
    {
        // The node's name and tensor names do not change what kernel it gets: key on the rest.
        var copy = single.Clone();
        copy.Graph.Node[0].Name = "";
        copy.Graph.Node[0].DocString = "";
        return Convert.ToBase64String(copy.ToByteArray());
    }
}
