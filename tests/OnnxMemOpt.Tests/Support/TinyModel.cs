using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// Builds small ONNX models in code for kernel and gradient tests: one node (or a few), typed
/// inputs and outputs, opset imports for the default domain plus com.microsoft and com.onnxmemopt.
/// </summary>
public sealed class TinyModel
{
    private readonly GraphProto _graph = new() { Name = "tiny" };
    private readonly Dictionary<string, long> _opsets = new() { [""] = 17, ["com.microsoft"] = 1, ["com.onnxmemopt"] = 1 };

    public TinyModel Opset(string domain, long version)
    {
        _opsets[domain] = version;
        return this;
    }

    /// <summary>Adds a graph input; a null dimension is symbolic.</summary>
    public TinyModel Input(string name, TensorProto.Types.DataType type, params long?[] shape)
    {
        _graph.Input.Add(ValueInfo(name, type, shape));
        return this;
    }

    public TinyModel Output(string name, TensorProto.Types.DataType type, params long?[] shape)
    {
        _graph.Output.Add(ValueInfo(name, type, shape));
        return this;
    }

    /// <summary>Adds an output whose shape is left to ONNX Runtime's inference (rank unknown).</summary>
    public TinyModel OutputUnshaped(string name, TensorProto.Types.DataType type)
    {
        _graph.Output.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } },
        });
        return this;
    }

    public TinyModel Initializer(TensorProto tensor)
    {
        _graph.Initializer.Add(tensor);
        return this;
    }

    public TinyModel Node(string opType, string[] inputs, string[] outputs, string domain = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Domain = domain, Name = $"{opType}_{_graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return this;
    }

    public ModelProto Build()
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "OnnxMemOpt.Tests", Graph = _graph.Clone() };
        foreach (var (domain, version) in _opsets)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
        return model;
    }

    public byte[] ToBytes() => Build().ToByteArray();

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Attr(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Attr(string name, float[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.FloatData.AddRange(values);
        return tensor;
    }

    public static TensorProto Int64Tensor(string name, long[] dims, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long?[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (long? dim in shape)
        {
            tensorShape.Dim.Add(dim is { } value
                ? new TensorShapeProto.Types.Dimension { DimValue = value }
                : new TensorShapeProto.Types.Dimension { DimParam = $"d{tensorShape.Dim.Count}" });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}
