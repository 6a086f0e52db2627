using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Memory;

/// <summary>
/// Splits a training graph's nodes into forward and backward. A node is backward when
/// (1) it is a gradient op (ONNX Runtime's *Grad / *Grad_* ops and this project's), or
/// (2) it reads, directly or transitively, a value that a backward node produces, or the output of
///     a YieldOp (ORTModule's loss-gradient seed), or a graph input named *_grad; or
/// (3) its name lies in a gradient builder's scope ("…_Grad/…"): ONNX Runtime's gradient
///     builder names every node it emits that way, including nodes that read only forward values
///     (the Reshape before a weight-gradient Gemm, shape computations for SliceGrad).
/// Everything else is forward. Values that forward nodes produce and backward nodes read are what
/// training keeps alive from the forward pass to the backward pass.
/// </summary>
public sealed class TrainingPhases
{
    private readonly HashSet<OnnxNode> _backward;

    private TrainingPhases(OnnxGraph graph, HashSet<OnnxNode> backward)
    {
        Graph = graph;
        _backward = backward;
    }

    public OnnxGraph Graph { get; }

    /// <summary>True when the graph has any backward node (a training graph).</summary>
    public bool IsTrainingGraph => _backward.Count > 0;

    public bool IsBackward(OnnxNode node) => _backward.Contains(node);

    /// <summary>Backward nodes that read <paramref name="value"/>.</summary>
    public IEnumerable<OnnxNode> BackwardReaders(string value) => Graph.Consumers(value).Where(IsBackward).Distinct();

    public static bool IsGradientOp(OnnxNode node) =>
        node.Domain is "com.microsoft" or "com.onnxmemopt"
        && (node.OpType.EndsWith("Grad", StringComparison.Ordinal) || node.OpType.Contains("Grad_", StringComparison.Ordinal));

    public static TrainingPhases Classify(OnnxGraph graph)
    {
        var backward = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance);
        var backwardValues = new HashSet<string>(StringComparer.Ordinal);
        foreach (string input in graph.InputNames.Where(i => i.EndsWith("_grad", StringComparison.Ordinal)))
        {
            backwardValues.Add(input);
        }
        foreach (OnnxNode node in graph.TopologicalOrder())
        {
            bool isBackward = IsGradientOp(node)
                || node.Name.Contains("_Grad/", StringComparison.Ordinal)
                || OnnxGraph.DependencyInputs(node).Any(backwardValues.Contains);
            if (isBackward)
            {
                backward.Add(node);
            }
            if (isBackward || node.Is("YieldOp", "com.microsoft"))
            {
                foreach (string output in node.Outputs.Where(o => o.Length > 0)) backwardValues.Add(output);
            }
        }
        return new TrainingPhases(graph, backward);
    }
}
