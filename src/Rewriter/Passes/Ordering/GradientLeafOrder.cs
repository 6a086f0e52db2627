using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Ordering;

/// <summary>
/// Orders a training graph's backward leaves (nodes whose outputs no node reads: the parameter
/// gradients) for ONNX Runtime's default execution order. ONNX Runtime runs the nodes in the order
/// a reverse depth-first search from the leaves emits them (GraphViewer: Graph::ReverseDFSFrom over
/// every leaf, the leaf with the highest node index, i.e. file position, first). The first leaf's
/// search emits the whole chain of input gradients it depends on and nothing else, so when the
/// first layer's weight gradient has the highest index every other weight gradient runs only after
/// the chain is done, and each layer's dH and saved inputs stay alive until the end of the step.
/// Here the leaves go last in file order, the one whose inputs are ready earliest last of all:
/// ONNX Runtime then takes it first and runs every weight gradient as soon as its dH exists.
/// Each leaf moves with the nodes only it needs (the Reshapes before its Gemm, an Identity after
/// it); the graph stays topologically sorted and computes the same values. Leaves that need a
/// Transpose (2-D weight gradients MatMul(xᵀ, dY)) stay: ONNX Runtime fuses them into new nodes
/// whose indices follow its own traversal, and moving them was measured to make the order worse.
/// </summary>
public static class GradientLeafOrder
{
    /// <summary>"leaf-order": the pass name in `--passes` and in reports.</summary>
    public const string Name = "leaf-order";

    /// <summary>How far up from a leaf the nodes that only it needs are gathered.</summary>
    private const int MaxDepth = 8;

    /// <summary>
    /// Reorders the leaves of <paramref name="context"/>'s graph; one record when the order changed,
    /// none for an inference graph, fewer than two movable leaves, or a graph already in that order.
    /// </summary>
    public static PassResult Apply(RewriteContext context)
    {
        var result = new PassResult();
        OnnxGraph graph = context.Graph;
        var phases = TrainingPhases.Classify(graph);
        if (!phases.IsTrainingGraph)
        {
            return result;
        }
        IReadOnlyList<OnnxNode> order = graph.TopologicalOrder();
        var position = new Dictionary<OnnxNode, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) position[order[i]] = i;

        var claimed = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance);
        var groups = new List<LeafGroup>();
        foreach (OnnxNode leaf in order.Where(n => phases.IsBackward(n) && n.Outputs.All(o => o.Length == 0 || graph.Consumers(o).Count == 0)))
        {
            List<OnnxNode> members = OnlyNeededBy(graph, leaf, claimed);
            if (members.Any(m => m.Is("Transpose")))
            {
                // ONNX Runtime fuses a Transpose into the product next to it and the fused node
                // gets a new index, which this order does not decide: leave such leaves alone
                // (moving them was measured to make the order worse).
                continue;
            }
            foreach (OnnxNode member in members) claimed.Add(member);
            int ready = members.SelectMany(OnnxGraph.DependencyInputs)
                .Select(graph.Producer)
                .Where(p => p is not null && !members.Contains(p, ReferenceEqualityComparer.Instance))
                .Select(p => position[p!])
                .DefaultIfEmpty(-1)
                .Max();
            groups.Add(new LeafGroup(members.OrderBy(m => position[m]).ToList(), ready, leaf.Outputs.FirstOrDefault(o => o.Length > 0) ?? leaf.Label));
        }
        if (groups.Count < 2)
        {
            return result;
        }
        // Latest-ready first, earliest-ready last (highest index, so ONNX Runtime starts there);
        // ties by name, so that running the pass again changes nothing.
        var tail = groups.OrderByDescending(g => g.Ready).ThenBy(g => g.Name, StringComparer.Ordinal).SelectMany(g => g.Members);
        var reordered = order.Where(n => !claimed.Contains(n)).Concat(tail).ToList();
        if (reordered.SequenceEqual(graph.Nodes))
        {
            return result;
        }
        graph.SetNodeOrder(reordered);
        result.Rewrites.Add(new RewriteRecord(Name, Name, $"{groups.Count} gradient leaves", null,
            "gradient leaves placed last, earliest-ready last, so that ONNX Runtime's default order runs each weight gradient as soon as its inputs exist"));
        return result;
    }

    private sealed record LeafGroup(List<OnnxNode> Members, int Ready, string Name);

    /// <summary>The leaf and, up to <see cref="MaxDepth"/> producers up, the nodes whose every output only the group reads.</summary>
    private static List<OnnxNode> OnlyNeededBy(OnnxGraph graph, OnnxNode leaf, HashSet<OnnxNode> claimed)
    {
        var members = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance) { leaf };
        var frontier = new List<OnnxNode> { leaf };
        for (int depth = 0; depth < MaxDepth && frontier.Count > 0; depth++)
        {
            var next = new List<OnnxNode>();
            foreach (OnnxNode node in frontier)
            {
                foreach (string input in OnnxGraph.DependencyInputs(node))
                {
                    if (graph.Producer(input) is not { } producer || members.Contains(producer) || claimed.Contains(producer) || producer.HasSubgraphs)
                    {
                        continue;
                    }
                    bool onlyHere = producer.Outputs.Where(o => o.Length > 0)
                        .All(o => !graph.IsGraphOutput(o) && graph.Consumers(o).All(members.Contains));
                    if (onlyHere)
                    {
                        members.Add(producer);
                        next.Add(producer);
                    }
                }
            }
            frontier = next;
        }
        return members.ToList();
    }
}
