using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// The canonical text form of a model, for snapshot tests and diffs (`onnxmemopt print`): IR
/// version, opsets, then per graph its inputs and outputs with element types and shapes, its
/// initializers with type, dims and a digest of their values, and one line per node in graph order
/// with its attributes sorted by name; subgraphs nested by indentation. Values are never printed,
/// only digested, so a snapshot stays small and still changes when a weight does. The text depends
/// on nothing but the model: no paths, producer names, dates or machine.
/// </summary>
public static class ModelText
{
    /// <summary>The first line of every text, naming the format so a later change of it shows as such.</summary>
    public const string Header = "onnxmemopt-model-text 1";

    /// <summary>Hex digits of the SHA-256 kept per tensor: enough that equal digests mean equal values.</summary>
    private const int DigestHexDigits = 16;

    /// <summary>The text of <paramref name="model"/>; lines end in '\n' on every platform.</summary>
    public static string Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var writer = new Writer(model);
        writer.Line(0, Header);
        writer.Line(0, $"ir_version {model.Proto.IrVersion}");
        foreach (OperatorSetIdProto opset in model.Proto.OpsetImport.OrderBy(o => o.Domain, StringComparer.Ordinal))
        {
            writer.Line(0, $"opset {DomainName(opset.Domain)} {opset.Version}");
        }
        writer.Graph(0, model.Proto.Graph);
        foreach (FunctionProto function in model.Proto.Functions.OrderBy(f => f.Domain, StringComparer.Ordinal).ThenBy(f => f.Name, StringComparer.Ordinal))
        {
            writer.Function(function);
        }
        return writer.ToString();
    }

    private static string DomainName(string domain) => domain.Length == 0 ? "ai.onnx" : domain;

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Type(TypeProto? type) => type?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => ElementTypes.Name(type.TensorType.ElemType) + Shape(type.TensorType.Shape),
        TypeProto.ValueOneofCase.SequenceType => $"sequence<{Type(type.SequenceType.ElemType)}>",
        TypeProto.ValueOneofCase.OptionalType => $"optional<{Type(type.OptionalType.ElemType)}>",
        TypeProto.ValueOneofCase.MapType => $"map<{ElementTypes.Name(type.MapType.KeyType)},{Type(type.MapType.ValueType)}>",
        TypeProto.ValueOneofCase.SparseTensorType => "sparse_" + ElementTypes.Name(type.SparseTensorType.ElemType) + Shape(type.SparseTensorType.Shape),
        _ => "?",
    };

    private static string Shape(TensorShapeProto? shape) =>
        shape is null ? "[?]" : "[" + string.Join(",", shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => d.DimParam,
            _ => "?",
        })) + "]";

    /// <summary>Builds the text line by line, two spaces of indentation per nesting level.</summary>
    private sealed class Writer(OnnxModel model)
    {
        private readonly StringBuilder _text = new();

        public void Line(int depth, string line) => _text.Append(' ', 2 * depth).Append(line).Append('\n');

        public void Graph(int depth, GraphProto graph)
        {
            Line(depth, $"graph \"{graph.Name}\"");
            foreach (ValueInfoProto input in graph.Input) Line(depth + 1, $"input {input.Name} {Type(input.Type)}");
            foreach (ValueInfoProto output in graph.Output) Line(depth + 1, $"output {output.Name} {Type(output.Type)}");
            foreach (TensorProto tensor in graph.Initializer.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                Line(depth + 1, $"initializer {tensor.Name} {Tensor(tensor)}");
            }
            foreach (SparseTensorProto sparse in graph.SparseInitializer.OrderBy(t => t.Values?.Name, StringComparer.Ordinal))
            {
                Line(depth + 1, $"sparse_initializer {sparse.Values?.Name} [{string.Join(",", sparse.Dims)}] values {Tensor(sparse.Values)} indices {Tensor(sparse.Indices)}");
            }
            foreach (NodeProto node in graph.Node) Node(depth + 1, node);
        }

        public void Function(FunctionProto function)
        {
            Line(0, $"function {DomainName(function.Domain)}:{function.Name} ({string.Join(", ", function.Input)}) -> ({string.Join(", ", function.Output)}) attributes [{string.Join(",", function.Attribute)}]");
            foreach (OperatorSetIdProto opset in function.OpsetImport.OrderBy(o => o.Domain, StringComparer.Ordinal))
            {
                Line(1, $"opset {DomainName(opset.Domain)} {opset.Version}");
            }
            foreach (NodeProto node in function.Node) Node(1, node);
        }

        private void Node(int depth, NodeProto node)
        {
            var line = new StringBuilder();
            line.Append(node.Domain.Length > 0 ? node.Domain + ":" : "").Append(node.OpType)
                .Append(" \"").Append(node.Name).Append("\" (").Append(string.Join(", ", node.Input))
                .Append(") -> (").Append(string.Join(", ", node.Output)).Append(')');
            var subgraphs = new List<(string Name, GraphProto Graph)>();
            foreach (AttributeProto attribute in node.Attribute.OrderBy(a => a.Name, StringComparer.Ordinal))
            {
                line.Append(' ').Append(attribute.Name).Append('=').Append(Attribute(attribute));
                if (attribute.G is { } g) subgraphs.Add((attribute.Name, g));
                subgraphs.AddRange(attribute.Graphs.Select((graph, i) => ($"{attribute.Name}[{i}]", graph)));
            }
            Line(depth, line.ToString());
            foreach (var (name, graph) in subgraphs)
            {
                Line(depth + 1, $"{name}:");
                Graph(depth + 2, graph);
            }
        }

        private string Attribute(AttributeProto a)
        {
            if (a.RefAttrName.Length > 0) return "@" + a.RefAttrName;
            return a.Type switch
            {
                AttributeProto.Types.AttributeType.Int => a.I.ToString(CultureInfo.InvariantCulture),
                AttributeProto.Types.AttributeType.Float => Number(a.F),
                AttributeProto.Types.AttributeType.String => Quoted(a.S.ToStringUtf8()),
                AttributeProto.Types.AttributeType.Ints => $"[{string.Join(",", a.Ints)}]",
                AttributeProto.Types.AttributeType.Floats => $"[{string.Join(",", a.Floats.Select(f => Number(f)))}]",
                AttributeProto.Types.AttributeType.Strings => $"[{string.Join(",", a.Strings.Select(s => Quoted(s.ToStringUtf8())))}]",
                AttributeProto.Types.AttributeType.Tensor => Tensor(a.T),
                AttributeProto.Types.AttributeType.Tensors => $"[{string.Join(",", a.Tensors.Select(Tensor))}]",
                AttributeProto.Types.AttributeType.Graph => "graph",
                AttributeProto.Types.AttributeType.Graphs => $"graphs({a.Graphs.Count})",
                AttributeProto.Types.AttributeType.TypeProto => Type(a.Tp),
                _ => a.Type.ToString().ToLowerInvariant(),
            };
        }

        /// <summary>Type, dims and digest of a tensor's values, or where its data lives when it cannot be read.</summary>
        private string Tensor(TensorProto? tensor)
        {
            if (tensor is null) return "none";
            string head = $"{ElementTypes.Name(tensor.DataType)}[{string.Join(",", tensor.Dims)}]";
            if (tensor.DataType == (int)TensorProto.Types.DataType.String)
            {
                return $"{head} sha256={Digest(StringBytes(tensor))}";
            }
            try
            {
                return $"{head} sha256={Digest(TensorData.PackedBytes(tensor, model))}";
            }
            catch (ModelException) when (TensorData.IsExternal(tensor))
            {
                // A model shipped without its weights still prints: say where the data would be.
                string location = tensor.ExternalData.FirstOrDefault(entry => entry.Key == "location")?.Value ?? "?";
                return $"{head} external={Quoted(location)} (not readable)";
            }
        }

        private static byte[] StringBytes(TensorProto tensor)
        {
            using var stream = new MemoryStream();
            Span<byte> length = stackalloc byte[8];
            foreach (var value in tensor.StringData)
            {
                BinaryPrimitives.WriteInt64LittleEndian(length, value.Length);
                stream.Write(length);
                value.WriteTo(stream);
            }
            return stream.ToArray();
        }

        private static string Digest(byte[] bytes) =>
            Convert.ToHexStringLower(SHA256.HashData(bytes))[..DigestHexDigits];

        private static string Quoted(string value) =>
            "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

        public override string ToString() => _text.ToString();
    }
}
