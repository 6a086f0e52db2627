using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Memory;

/// <summary>
/// Splits a training graph's nodes into forward and backward. A node is backward when
/// (1) it is a gradient op (ONNX Runtime's *Grad / *Grad_* ops and this project's), or
/// (2) it reads, directly or transitively, a value that a backward node produces, or the output of
///     a YieldOp (ORTModule's loss-gradient seed), or a graph input named *_grad; or
/// (3) its name lies in a gradient builder's scope ("…_Grad/…", as ONNX Runtime's gradient builder
///     names every node it emits), or ends in "_recompute" (a forward computation repeated for the
///     backward pass, named as ONNX Runtime's memory optimizer names its recomputations); or
/// (4) it is a layout or shape op (Reshape, Transpose, Shape, ...) that reads only forward values
///     but whose outputs only backward nodes read (the Reshape before a weight-gradient Gemm, shape
///     computations for SliceGrad): it only re-views for the backward pass what backward keeps.
///     Compute ops stay forward even then (ReGelu2 computing only a code still runs in forward).
/// Everything else is forward. Values that forward nodes produce and backward nodes read are what
/// training keeps alive from the forward pass to the backward pass.
/// </summary>
public sealed class TrainingPhases
{
    private static readonly HashSet<string> LayoutOps = new(StringComparer.Ordinal)
    {
        "Reshape", "Transpose", "Shape", "Size", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Gather", "Slice", "Concat", "ConstantOfShape", "Cast",
    };

    private readonly HashSet<OnnxNode> _backward;

    private TrainingPhases(OnnxGraph graph, HashSet<OnnxNode> backward)
    {
        Graph = graph;
        _backward = backward;
    }

    /// <summary>The graph that was classified.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>True when the graph has any backward node (a training graph).</summary>
    public bool IsTrainingGraph => _backward.Count > 0;

    /// <summary>True when <paramref name="node"/> belongs to the backward pass by the rules above.</summary>
    public bool IsBackward(OnnxNode node) => _backward.Contains(node);

    /// <summary>Backward nodes that read <paramref name="value"/>.</summary>
    public IEnumerable<OnnxNode> BackwardReaders(string value) => Graph.Consumers(value).Where(IsBackward).Distinct();

    /// <summary>Suffix of the nodes that repeat a forward computation in backward (<see cref="IsRecomputation"/>).</summary>
    public const string RecomputeSuffix = "_recompute";

    /// <summary>A node that recomputes, for backward readers, what forward computed and did not keep.</summary>
    public static bool IsRecomputation(OnnxNode node) => node.Name.EndsWith(RecomputeSuffix, StringComparison.Ordinal);

    /// <summary>A node name not yet used in <paramref name="graph"/> that marks a recomputation.</summary>
    public static string RecomputationName(OnnxGraph graph, string label)
    {
        for (int n = 0; ; n++)
        {
            string name = n == 0 ? $"{label}{RecomputeSuffix}" : $"{label}_{n}{RecomputeSuffix}";
            if (graph.UniqueName(name) == name)
            {
                return name;
            }
        }
    }

    /// <summary>
    /// Rule (1): a com.microsoft or com.onnxmemopt op whose name ends in "Grad" or contains "Grad_"
    /// (GeluGrad, SoftmaxGrad_13, ReGelu2Grad).
    /// </summary>
    public static bool IsGradientOp(OnnxNode node) =>
        node.Domain is "com.microsoft" or "com.onnxmemopt"
        && (node.OpType.EndsWith("Grad", StringComparison.Ordinal) || node.OpType.Contains("Grad_", StringComparison.Ordinal));

    /// <summary>
    /// Classifies every node of <paramref name="graph"/>: rules (1)-(3) in one pass over the
    /// topological order, then rule (4) from its end.
    /// </summary>
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
                || IsRecomputation(node)
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
        // Rule (4), from the end: a node feeding only backward nodes joins them.
        IReadOnlyList<OnnxNode> order = graph.TopologicalOrder();
        for (int i = order.Count - 1; i >= 0; i--)
        {
            OnnxNode node = order[i];
            if (backward.Contains(node) || !LayoutOps.Contains(node.OpType) || node.Outputs.Any(graph.IsGraphOutput))
            {
                continue;
            }
            var readers = node.Outputs.Where(o => o.Length > 0).SelectMany(graph.Consumers).ToList();
            if (readers.Count > 0 && readers.All(backward.Contains))
            {
                backward.Add(node);
            }
        }
        return new TrainingPhases(graph, backward);
    }
}
