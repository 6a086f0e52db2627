namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// The order in which ONNX Runtime's sequential executor runs a graph (ExecutionOrder::DEFAULT, the
/// only one its C API offers): GraphViewer's nodes_in_topological_order_, built by
/// Graph::ReverseDFSFrom over the leaf nodes (nodes no other node reads) with NodeCompare. The leaves
/// go on a stack in index order; popping a node not yet visited marks it, pushes a "leave" entry for
/// it and then its producers sorted by ascending index, so the producer with the highest index is
/// expanded first; a node is emitted when its "leave" entry is popped, i.e. after all its producers.
/// </summary>
public static class RuntimeExecutionOrder
{
    /// <summary>The nodes of <paramref name="graph"/> in the order the sequential executor runs them.</summary>
    public static IReadOnlyList<RuntimeNode> Of(RuntimeGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var nodes = graph.Nodes.ToList();
        var producers = new Dictionary<RuntimeNode, RuntimeNode[]>(ReferenceEqualityComparer.Instance);
        var hasConsumer = new HashSet<RuntimeNode>(ReferenceEqualityComparer.Instance);
        foreach (RuntimeNode node in nodes)
        {
            // One entry per input edge, as Node::InputNodesBegin iterates them; duplicates are harmless
            // because a visited node is skipped.
            RuntimeNode[] inputs = node.PresentInputs.Select(graph.Producer).OfType<RuntimeNode>()
                .Where(p => !ReferenceEquals(p, node)).OrderBy(p => p.Index).ToArray();
            producers[node] = inputs;
            foreach (RuntimeNode p in inputs) hasConsumer.Add(p);
        }

        var order = new List<RuntimeNode>(nodes.Count);
        var visited = new HashSet<RuntimeNode>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(RuntimeNode Node, bool Leave)>();
        foreach (RuntimeNode leaf in nodes.Where(n => !hasConsumer.Contains(n))) stack.Push((leaf, false));
        while (stack.Count > 0)
        {
            (RuntimeNode node, bool leave) = stack.Pop();
            if (leave)
            {
                order.Add(node);
                continue;
            }
            if (!visited.Add(node)) continue;
            stack.Push((node, true));
            foreach (RuntimeNode p in producers[node])
            {
                if (!visited.Contains(p)) stack.Push((p, false));
            }
        }
        return order;
    }
}
