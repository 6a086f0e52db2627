using System.Globalization;
using System.Text;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// A canonical, diff-friendly text form of a model: opsets, inputs, outputs, initializers (type and
/// dims; values only for tiny ones) and one line per node in graph order with its attributes.
/// </summary>
internal static class GraphText
{
    public static string Of(OnnxModel model)
    {
        var text = new StringBuilder();
        GraphProto graph = model.Proto.Graph;
        foreach (OperatorSetIdProto opset in model.Proto.OpsetImport.OrderBy(o => o.Domain, StringComparer.Ordinal))
        {
            text.Append("opset ").Append(opset.Domain.Length == 0 ? "ai.onnx" : opset.Domain).Append(' ').Append(opset.Version).Append('\n');
        }
        foreach (ValueInfoProto input in graph.Input) text.Append("input ").Append(input.Name).Append('\n');
        foreach (ValueInfoProto output in graph.Output) text.Append("output ").Append(output.Name).Append('\n');
        foreach (TensorProto tensor in graph.Initializer.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            text.Append("initializer ").Append(tensor.Name).Append(' ').Append(ElementTypes.Name(tensor.DataType))
                .Append('[').Append(string.Join(",", tensor.Dims)).Append(']');
            if (!TensorData.IsExternal(tensor) && TensorData.ElementCount(tensor) <= 8)
            {
                text.Append(" = ").Append(string.Join(",", TensorData.ToDoubles(tensor, model).Select(Number)));
            }
            text.Append('\n');
        }
        foreach (NodeProto node in graph.Node)
        {
            text.Append(node.Domain.Length > 0 ? node.Domain + ":" : "").Append(node.OpType)
                .Append(" \"").Append(node.Name).Append("\" (").Append(string.Join(", ", node.Input))
                .Append(") -> (").Append(string.Join(", ", node.Output)).Append(')');
            foreach (AttributeProto attribute in node.Attribute.OrderBy(a => a.Name, StringComparer.Ordinal))
            {
                text.Append(' ').Append(attribute.Name).Append('=').Append(Attribute(attribute));
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    private static string Attribute(AttributeProto a) => a.Type switch
    {
        AttributeProto.Types.AttributeType.Int => a.I.ToString(CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.Float => Number(a.F),
        AttributeProto.Types.AttributeType.String => a.S.ToStringUtf8(),
        AttributeProto.Types.AttributeType.Ints => $"[{string.Join(",", a.Ints)}]",
        AttributeProto.Types.AttributeType.Floats => $"[{string.Join(",", a.Floats.Select(f => Number(f)))}]",
        AttributeProto.Types.AttributeType.Tensor => $"tensor {ElementTypes.Name(a.T.DataType)}[{string.Join(",", a.T.Dims)}]",
        _ => a.Type.ToString(),
    };

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
