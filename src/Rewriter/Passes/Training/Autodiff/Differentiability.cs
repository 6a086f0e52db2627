using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// Which values need a gradient: those that depend on a trainable parameter through ops that pass
/// gradients (floating-point values only), and that the loss depends on. Everything else (the
/// integer shape arithmetic, masks, frozen branches that never meet a parameter) gets no backward
/// node at all: only what the chosen trainable set needs is built.
/// </summary>
public static class Differentiability
{
    /// <summary>
    /// The values that need a gradient to differentiate <paramref name="loss"/> with respect to
    /// <paramref name="parameters"/>.
    /// </summary>
    /// <param name="graph">The forward graph.</param>
    /// <param name="types">Inferred types; a value of unknown type counts as floating point.</param>
    /// <param name="parameters">
    /// The trainable parameters (graph inputs or initializers); they are in the result when the loss
    /// depends on them.
    /// </param>
    /// <param name="loss">The scalar the backward pass starts from.</param>
    public static HashSet<string> ValuesNeedingGradient(OnnxGraph graph, IReadOnlyDictionary<string, TensorType> types, IEnumerable<string> parameters, string loss)
    {
        IReadOnlyList<OnnxNode> order = graph.TopologicalOrder();
        var dependsOnParameter = new HashSet<string>(parameters, StringComparer.Ordinal);
        foreach (OnnxNode node in order)
        {
            if (NonDifferentiableOps.Contains(node.OpType) || !node.Inputs.Any(dependsOnParameter.Contains)) continue;
            foreach (string output in node.Outputs)
            {
                if (output.Length > 0 && IsFloat(types, output)) dependsOnParameter.Add(output);
            }
        }

        // Walk back from the loss over the same edges: a value feeds the loss if a node that reads it does.
        var feedsLoss = new HashSet<string>(StringComparer.Ordinal) { loss };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            OnnxNode node = order[i];
            if (!node.Outputs.Any(feedsLoss.Contains)) continue;
            foreach (string input in node.Inputs)
            {
                if (input.Length > 0 && dependsOnParameter.Contains(input)) feedsLoss.Add(input);
            }
        }
        feedsLoss.IntersectWith(dependsOnParameter);
        return feedsLoss;
    }

    /// <summary>A value of unknown type counts as floating point, so that a gap in shape inference
    /// surfaces as a clear error later instead of silently cutting the gradient.</summary>
    private static bool IsFloat(IReadOnlyDictionary<string, TensorType> types, string value) =>
        !types.TryGetValue(value, out TensorType? t) || t.ElementType == 0 || ElementTypes.IsFloatingPoint(t.ElementType);
}
