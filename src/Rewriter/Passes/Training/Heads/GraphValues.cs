using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Passes.Training.Heads;

/// <summary>ValueInfo helpers for the inputs and outputs a training graph adds.</summary>
internal static class GraphValues
{
    public static ValueInfoProto ValueInfo(string name, int elementType, IEnumerable<Dim>? dims)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = elementType };
        if (dims is not null)
        {
            tensor.Shape = new TensorShapeProto();
            foreach (Dim d in dims)
            {
                tensor.Shape.Dim.Add(d.Value is { } v
                    ? new TensorShapeProto.Types.Dimension { DimValue = v }
                    : d.Symbol is { } s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension());
            }
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }

    public static ValueInfoProto ValueInfo(string name, TensorProto tensor) =>
        ValueInfo(name, tensor.DataType, tensor.Dims.Select(Dim.Of));
}
