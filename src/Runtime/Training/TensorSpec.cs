using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>One dimension of a graph input: a fixed size, or a symbolic name (dim_param), or unknown.</summary>
public readonly record struct Dimension(long? Value, string? Symbol)
{
    /// <summary>The size, else the symbol, else "?", as shapes print in messages.</summary>
    public override string ToString() => Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Symbol ?? "?";
}

/// <summary>A graph input or output: name, element type and (possibly symbolic) shape.</summary>
public sealed record TensorSpec(string Name, TensorElementType ElementType, IReadOnlyList<Dimension> Shape)
{
    /// <summary>Reads name, element type and shape from a graph input's or output's value info; a missing shape reads as rank 0.</summary>
    /// <exception cref="NotSupportedException">The value is not a tensor (a sequence, a map).</exception>
    public static TensorSpec FromValueInfo(ValueInfoProto info)
    {
        ArgumentNullException.ThrowIfNull(info);
        TypeProto.Types.Tensor? tensor = info.Type?.TensorType;
        if (tensor is null)
        {
            throw new NotSupportedException($"Graph value '{info.Name}' is not a tensor; training graphs take tensors only.");
        }
        var shape = tensor.Shape?.Dim
            .Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
                ? new Dimension(d.DimValue, null)
                : new Dimension(null, string.IsNullOrEmpty(d.DimParam) ? null : d.DimParam))
            .ToArray() ?? [];
        // ONNX's TensorProto.DataType numbering is the one ONNX Runtime's TensorElementType uses.
        return new TensorSpec(info.Name, (TensorElementType)tensor.ElemType, shape);
    }

    /// <summary>Name, element type and shape for messages: <c>input: Float[batch,784]</c>.</summary>
    public override string ToString() => $"{Name}: {ElementType}[{string.Join(",", Shape)}]";
}
