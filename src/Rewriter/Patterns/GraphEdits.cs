using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Patterns;

/// <summary>Small graph edits every rule shares, so that no rule rewires a graph by hand.</summary>
public static class GraphEdits
{
    /// <summary>A NodeProto ready to add (attributes via <see cref="Attr(string, long)"/> and its overloads).</summary>
    public static NodeProto Node(string opType, string domain, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Domain = domain, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    /// <summary>An integer attribute for <see cref="Node"/>.</summary>
    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute for <see cref="Node"/> (epsilon, alpha, ...).</summary>
    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>
    /// A string attribute for <see cref="Node"/>, stored as UTF-8 (the 2-bit ops' <c>table</c>, for
    /// one).
    /// </summary>
    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>
    /// Replaces a whole match by <paramref name="replacements"/> (which produce the root's outputs
    /// under the same names), then drops constants that only the removed nodes read.
    /// </summary>
    public static IReadOnlyList<OnnxNode> ReplaceMatch(RewriteContext context, PatternMatch match, params NodeProto[] replacements)
    {
        var readBefore = match.Nodes.SelectMany(n => n.Inputs).Where(i => i.Length > 0).Distinct().ToList();
        var added = context.Graph.ReplaceNodes(match.Nodes.ToList(), replacements);
        // Types stay valid: the replacements produce the root's outputs under the same names, and
        // the rule set refreshes types between sweeps for anything new.
        RemoveUnusedConstants(context.Graph, readBefore);
        return added;
    }

    /// <summary>
    /// Declares <paramref name="value"/> (a value a rule created) with the type of
    /// <paramref name="like"/> when that is known, so that ONNX Runtime's shape inference can carry
    /// shapes across the new nodes (custom ops only see the shapes their inputs are declared with).
    /// </summary>
    public static void DeclareLike(RewriteContext context, string value, string like)
    {
        if (context.TypeOf(like) is not { Shape: { } shape } type || context.Graph.Proto.ValueInfo.Any(v => v.Name == value))
        {
            return;
        }
        var tensorShape = new TensorShapeProto();
        foreach (Graph.Dim dim in shape.Dims)
        {
            tensorShape.Dim.Add(dim.Value is { } v
                ? new TensorShapeProto.Types.Dimension { DimValue = v }
                : dim.Symbol is { } s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension());
        }
        context.Graph.Proto.ValueInfo.Add(new ValueInfoProto
        {
            Name = value,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type.ElementType, Shape = tensorShape } },
        });
    }

    /// <summary>Removes Constant nodes and initializers among <paramref name="values"/> that nothing reads any more.</summary>
    public static void RemoveUnusedConstants(OnnxGraph graph, IEnumerable<string> values)
    {
        foreach (string value in values)
        {
            if (graph.Consumers(value).Count > 0 || graph.IsGraphOutput(value) || graph.IsGraphInput(value))
            {
                continue;
            }
            if (graph.Producer(value) is { } producer && producer.Is("Constant"))
            {
                graph.RemoveNode(producer);
            }
            else if (graph.Producer(value) is null && graph.Initializer(value) is not null)
            {
                graph.RemoveInitializer(value);
            }
        }
    }

    /// <summary>Every value of the match, other than the root's, that something outside the match reads.</summary>
    public static string? EscapingValue(PatternMatch match)
    {
        var inside = new HashSet<OnnxNode>(match.Nodes, ReferenceEqualityComparer.Instance);
        foreach (OnnxNode node in match.Nodes)
        {
            if (ReferenceEquals(node, match.Root))
            {
                continue;
            }
            foreach (string output in node.Outputs.Where(o => o.Length > 0))
            {
                if (match.Root.Graph.IsGraphOutput(output))
                {
                    return $"'{output}' (from {node.Label}) is a graph output";
                }
                if (match.Root.Graph.Consumers(output).FirstOrDefault(c => !inside.Contains(c)) is { } outside)
                {
                    return $"'{output}' (from {node.Label}) is also read by {outside.Label}, outside the pattern";
                }
            }
        }
        return null;
    }
}
