using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// Reverse-mode differentiation over the IR: seeds d(loss) = 1, walks the forward nodes in
/// reverse topological order, lets each node's rule emit its inputs' gradients, sums the
/// contributions per value and returns the gradient of each parameter.
/// </summary>
public static class BackwardPass
{
    /// <summary>
    /// Appends the backward graph of <paramref name="loss"/> with respect to
    /// <paramref name="parameters"/> to <paramref name="model"/>'s graph. The model may be
    /// replaced (when a rule added outputs to a forward node); the returned model is the one to use.
    /// </summary>
    public static (OnnxModel Model, IReadOnlyDictionary<string, string?> Gradients) Run(
        OnnxModel model, IReadOnlyList<string> parameters, string loss, GradientRules? rules = null, DimBindings? dims = null,
        IReadOnlyCollection<string>? reservedNames = null)
    {
        rules ??= GradientRules.Default;
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph, dims);
        HashSet<string> needs = Differentiability.ValuesNeedingGradient(model.Graph, types, parameters, loss);
        if (!needs.Contains(loss))
        {
            throw new UnsupportedModelException(model.FileName, $"the loss '{loss}' does not depend on any trainable parameter");
        }

        if (PrepareForwardNodes(model.Graph, needs, rules))
        {
            // A rule added outputs to forward nodes: re-read the document so the IR indexes them.
            model = OnnxModel.FromProto(model.Proto, model.FileName, model.BaseDirectory, model.Limits);
            types = ShapeInference.Infer(model.Graph, dims);
        }

        OnnxGraph graph = model.Graph;
        foreach (string name in reservedNames ?? [])
        {
            // Names the caller will give its own values (e.g. the "<param>_grad" outputs).
            graph.UniqueName(name);
        }
        IReadOnlyList<OnnxNode> forward = graph.TopologicalOrder();
        var emit = new GraphEmitter(graph, "Grad/");
        var context = new GradientContext(emit, types, needs);
        string seed = emit.Scalar(1.0, context.ElementTypeOf(loss), GradientContext.GradName(loss));
        context.AddGradient(loss, seed);

        for (int i = forward.Count - 1; i >= 0; i--)
        {
            OnnxNode node = forward[i];
            if (!WillDifferentiate(node, needs)) continue;
            var outputGradients = node.Outputs.Select(o => needs.Contains(o) ? context.GradientOf(o) : null).ToArray();
            if (outputGradients.All(g => g is null)) continue;
            IGradientRule rule = rules.For(node)
                ?? throw new UnsupportedModelException(model.FileName, $"no gradient rule for op {(node.Domain.Length > 0 ? node.Domain + ":" : "")}{node.OpType}, which lies between a trainable parameter and the loss", node.Label);
            try
            {
                rule.Backward(node, outputGradients, context);
            }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or KeyNotFoundException or InvalidOperationException or OverflowException)
            {
                // A rule trusts the op's schema (attribute types, ranks); a node that breaks it is
                // a malformed model, reported against the node rather than as a crash.
                throw new UnsupportedModelException(model.FileName, $"cannot differentiate {node.OpType}: its attributes or input shapes do not fit the op ({e.Message})", node.Label, e);
            }
        }

        var gradients = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (string parameter in parameters)
        {
            gradients[parameter] = needs.Contains(parameter) ? context.GradientOf(parameter) : null;
        }
        graph.SortNodes();
        return (model, gradients);
    }

    private static bool WillDifferentiate(OnnxNode node, HashSet<string> needs) =>
        node.Outputs.Any(needs.Contains) && node.Inputs.Any(needs.Contains);

    private static bool PrepareForwardNodes(OnnxGraph graph, HashSet<string> needs, GradientRules rules)
    {
        bool changed = false;
        foreach (OnnxNode node in graph.Nodes.ToList())
        {
            if (WillDifferentiate(node, needs) && rules.For(node) is { } rule)
            {
                changed |= rule.PrepareForward(node);
            }
        }
        return changed;
    }
}
