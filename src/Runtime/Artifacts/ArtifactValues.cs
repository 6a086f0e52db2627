using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>Value declarations and model metadata shared by the artifact graphs this project writes.</summary>
internal static class ArtifactValues
{
    /// <summary>IR 9 (ONNX 1.14): what ONNX Runtime 1.19 reads, and what its generator wrote for optimizer models.</summary>
    public const long IrVersion = 9;

    /// <summary>The default-domain opset of a graph that has no other reason to pick one.</summary>
    public const long DefaultOnnxOpset = 14;

    public const string Producer = "onnxmemopt";

    public static ValueInfoProto Tensor(string name, int elementType, IEnumerable<long> dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }

    public static ValueInfoProto FloatSequence(string name) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            SequenceType = new TypeProto.Types.Sequence
            {
                ElemType = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            },
        },
    };
}
