using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// Structural checks run on every loaded model, so that the IR and the passes can rely on a
/// well-formed DAG: every value defined once, every node input defined (in its graph or an
/// enclosing one), no cycles, initializers whose data matches their dims, external data that
/// stays in the model's folder, and the resource limits.
/// </summary>
internal static class ModelValidator
{
    public static void Validate(OnnxModel model)
    {
        var state = new WalkState(model);
        ValidateGraph(state, model.Proto.Graph, outerScope: new HashSet<string>(StringComparer.Ordinal), depth: 0);
    }

    private sealed class WalkState(OnnxModel model)
    {
        public OnnxModel Model { get; } = model;
        public long Nodes { get; set; }
        public string File => Model.FileName;
    }

    private static void ValidateGraph(WalkState state, GraphProto graph, HashSet<string> outerScope, int depth)
    {
        if (depth > state.Model.Limits.MaxSubgraphDepth)
        {
            throw new ModelLimitException(state.File, $"subgraphs nest deeper than {state.Model.Limits.MaxSubgraphDepth} levels");
        }
        state.Nodes += graph.Node.Count;
        if (state.Nodes > state.Model.Limits.MaxNodes)
        {
            throw new ModelLimitException(state.File, $"has more than {state.Model.Limits.MaxNodes} nodes");
        }

        var defined = new HashSet<string>(outerScope, StringComparer.Ordinal);
        var graphLevel = new HashSet<string>(StringComparer.Ordinal);
        foreach (ValueInfoProto input in graph.Input)
        {
            // An initializer may also be listed as an input (IR < 4 requires it), so inputs and
            // initializers share names legitimately; only node outputs must be unique.
            graphLevel.Add(input.Name);
            defined.Add(input.Name);
        }
        foreach (TensorProto initializer in graph.Initializer)
        {
            ValidateTensor(state, initializer);
            graphLevel.Add(initializer.Name);
            defined.Add(initializer.Name);
        }
        foreach (SparseTensorProto sparse in graph.SparseInitializer)
        {
            if (sparse.Values is null)
            {
                throw new InvalidModelException(state.File, "sparse initializer without values");
            }
            ValidateTensor(state, sparse.Values);
            graphLevel.Add(sparse.Values.Name);
            defined.Add(sparse.Values.Name);
        }

        // Producers first, so that node order in the file does not matter (ONNX requires a
        // topological order, but ONNX Runtime accepts any; we report cycles instead).
        var producerIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            foreach (string output in node.Output)
            {
                if (output.Length == 0)
                {
                    continue;
                }
                if (graphLevel.Contains(output) && !producerIndex.ContainsKey(output))
                {
                    throw new InvalidModelException(state.File, $"output '{output}' redefines a graph input or initializer", NodeLabel(node, i));
                }
                if (!producerIndex.TryAdd(output, i))
                {
                    throw new InvalidModelException(state.File, $"value '{output}' is produced by more than one node", NodeLabel(node, i));
                }
            }
        }
        foreach (string name in producerIndex.Keys)
        {
            defined.Add(name);
        }

        // Inputs of each node, including values its subgraphs read from this scope.
        var dependencies = new List<int>[graph.Node.Count];
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            dependencies[i] = [];
            foreach (string input in node.Input)
            {
                if (input.Length == 0)
                {
                    continue;
                }
                if (!defined.Contains(input))
                {
                    throw new InvalidModelException(state.File, $"reads undefined value '{input}'", NodeLabel(node, i));
                }
                if (producerIndex.TryGetValue(input, out int producer))
                {
                    dependencies[i].Add(producer);
                }
            }
            foreach (AttributeProto attribute in node.Attribute)
            {
                // A Constant's tensor may be external too (onnx's save_as_external_data moves
                // attribute tensors as well), so it gets the same checks as an initializer.
                foreach (TensorProto tensor in attribute.Tensors.Prepend(attribute.T).OfType<TensorProto>())
                {
                    ValidateTensor(state, tensor);
                }
                foreach (GraphProto body in Subgraphs(attribute))
                {
                    ValidateGraph(state, body, defined, depth + 1);
                    foreach (string outer in OuterReferences(body))
                    {
                        if (producerIndex.TryGetValue(outer, out int producer))
                        {
                            dependencies[i].Add(producer);
                        }
                    }
                }
            }
        }
        foreach (ValueInfoProto output in graph.Output)
        {
            if (!defined.Contains(output.Name))
            {
                throw new InvalidModelException(state.File, $"graph output '{output.Name}' is never produced");
            }
        }
        CheckAcyclic(state, graph, dependencies);
    }

    public static IEnumerable<GraphProto> Subgraphs(AttributeProto attribute)
    {
        if (attribute.G is not null)
        {
            yield return attribute.G;
        }
        foreach (GraphProto g in attribute.Graphs)
        {
            yield return g;
        }
    }

    /// <summary>Names a subgraph reads that it does not define itself (its outer-scope inputs).</summary>
    public static HashSet<string> OuterReferences(GraphProto body)
    {
        var local = new HashSet<string>(StringComparer.Ordinal);
        foreach (ValueInfoProto i in body.Input) local.Add(i.Name);
        foreach (TensorProto t in body.Initializer) local.Add(t.Name);
        foreach (NodeProto n in body.Node) foreach (string o in n.Output) local.Add(o);
        var outer = new HashSet<string>(StringComparer.Ordinal);
        foreach (NodeProto n in body.Node)
        {
            foreach (string i in n.Input)
            {
                if (i.Length > 0 && !local.Contains(i)) outer.Add(i);
            }
            foreach (AttributeProto a in n.Attribute)
            {
                foreach (GraphProto nested in Subgraphs(a))
                {
                    foreach (string i in OuterReferences(nested))
                    {
                        if (!local.Contains(i)) outer.Add(i);
                    }
                }
            }
        }
        foreach (ValueInfoProto o in body.Output)
        {
            if (!local.Contains(o.Name)) outer.Add(o.Name);
        }
        return outer;
    }

    private static void CheckAcyclic(WalkState state, GraphProto graph, List<int>[] dependencies)
    {
        int count = graph.Node.Count;
        var pending = new int[count];
        var dependents = new List<int>[count];
        for (int i = 0; i < count; i++) dependents[i] = [];
        for (int i = 0; i < count; i++)
        {
            foreach (int producer in dependencies[i])
            {
                pending[i]++;
                dependents[producer].Add(i);
            }
        }
        var ready = new Queue<int>();
        for (int i = 0; i < count; i++) if (pending[i] == 0) ready.Enqueue(i);
        int visited = 0;
        while (ready.Count > 0)
        {
            int n = ready.Dequeue();
            visited++;
            foreach (int d in dependents[n])
            {
                if (--pending[d] == 0) ready.Enqueue(d);
            }
        }
        if (visited != count)
        {
            int stuck = Array.FindIndex(pending, p => p > 0);
            throw new InvalidModelException(state.File, "the graph has a cycle through this node", NodeLabel(graph.Node[stuck], stuck));
        }
    }

    private static void ValidateTensor(WalkState state, TensorProto tensor)
    {
        long elements = TensorData.ElementCount(tensor, state.File);
        long? bytes = ElementTypes.ByteCount(tensor.DataType, elements);
        if (bytes > state.Model.Limits.MaxTensorBytes)
        {
            throw new ModelLimitException(state.File, $"tensor '{tensor.Name}' claims {bytes} bytes, over the limit of {state.Model.Limits.MaxTensorBytes}");
        }
        if (TensorData.IsExternal(tensor))
        {
            ExternalDataReference.CheckLocation(tensor, state.Model.BaseDirectory, state.File);
            return;
        }
        if (tensor.HasRawData && bytes is { } expected && tensor.RawData.Length != expected)
        {
            throw new InvalidModelException(state.File, $"tensor '{tensor.Name}' has {tensor.RawData.Length} bytes of raw_data but its dims and type need {expected}");
        }
    }

    public static string NodeLabel(NodeProto node, int index) =>
        string.IsNullOrEmpty(node.Name) ? $"{node.OpType}#{index}" : node.Name;
}
