using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// Every TensorProto a model holds, wherever ONNX allows one: graph initializers, sparse
/// initializers (values and indices), node attributes (a Constant's <c>value</c>, any <c>t</c> or
/// <c>tensors</c>), in the main graph and in every subgraph. onnx's own external-data conversion
/// (<c>save_model(..., save_as_external_data=True)</c>) moves all of these, not just initializers,
/// so whatever reads or relocates external data must visit all of them.
/// </summary>
public static class ModelTensors
{
    /// <summary>
    /// Every tensor of <paramref name="model"/>, lazily, in graph order (initializers, then sparse
    /// initializers, then node attributes, each subgraph where its node is).
    /// </summary>
    public static IEnumerable<TensorProto> All(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Graph is null ? [] : InGraph(model.Graph);
    }

    /// <summary>The tensors whose bytes live in external files.</summary>
    public static IEnumerable<TensorProto> External(ModelProto model) => All(model).Where(TensorData.IsExternal);

    /// <summary>
    /// True when any tensor of <paramref name="model"/>, initializer or attribute, keeps its bytes in
    /// an external file.
    /// </summary>
    public static bool HasExternalData(ModelProto model) => External(model).Any();

    private static IEnumerable<TensorProto> InGraph(GraphProto graph)
    {
        foreach (TensorProto tensor in graph.Initializer)
        {
            yield return tensor;
        }
        foreach (SparseTensorProto sparse in graph.SparseInitializer)
        {
            if (sparse.Values is not null) yield return sparse.Values;
            if (sparse.Indices is not null) yield return sparse.Indices;
        }
        foreach (NodeProto node in graph.Node)
        {
            foreach (AttributeProto attribute in node.Attribute)
            {
                if (attribute.T is not null) yield return attribute.T;
                foreach (TensorProto tensor in attribute.Tensors) yield return tensor;
                foreach (SparseTensorProto sparse in attribute.SparseTensors.Prepend(attribute.SparseTensor).OfType<SparseTensorProto>())
                {
                    if (sparse.Values is not null) yield return sparse.Values;
                    if (sparse.Indices is not null) yield return sparse.Indices;
                }
                foreach (GraphProto body in ModelValidator.Subgraphs(attribute))
                {
                    foreach (TensorProto tensor in InGraph(body)) yield return tensor;
                }
            }
        }
    }
}
