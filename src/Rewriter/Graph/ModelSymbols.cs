using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>
/// The symbolic dimension names a model declares: the dim_param of every input, output and
/// value_info, in the main graph and in every subgraph. These are the names `--dim` can bind;
/// exporters choose them (torch writes what `dynamic_axes` says: "batch_size", "sequence_length",
/// or generated ones such as "input_ids_dynamic_axes_1"), so a user has to be told them.
/// </summary>
public static class ModelSymbols
{
    /// <summary>
    /// The symbols declared anywhere in <paramref name="model"/>, sorted ordinally so that messages
    /// list them in a stable order.
    /// </summary>
    public static IReadOnlySet<string> Of(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var symbols = new SortedSet<string>(StringComparer.Ordinal);
        if (model.Graph is not null) Collect(model.Graph, symbols);
        return symbols;
    }

    /// <summary>The symbols declared anywhere in a loaded model; see <see cref="Of(ModelProto)"/>.</summary>
    public static IReadOnlySet<string> Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Of(model.Proto);
    }

    private static void Collect(GraphProto graph, SortedSet<string> symbols)
    {
        foreach (ValueInfoProto info in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            foreach (TensorShapeProto.Types.Dimension dim in info.Type?.TensorType?.Shape?.Dim ?? [])
            {
                if (dim.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam && dim.DimParam.Length > 0)
                {
                    symbols.Add(dim.DimParam);
                }
            }
        }
        foreach (NodeProto node in graph.Node)
        {
            foreach (AttributeProto attribute in node.Attribute)
            {
                foreach (GraphProto body in Onnx.ModelValidator.Subgraphs(attribute)) Collect(body, symbols);
            }
        }
    }
}

/// <summary>
/// A `--dim NAME=VALUE` that names no symbolic dimension of the model: a usage error (exit code 2),
/// since the binding would otherwise be ignored silently and every size it was meant to fix stays unknown.
/// </summary>
public sealed class UnknownDimensionException(string message) : Exception(message);
