using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>The original graph with the 2-bit step derivatives in standard ops, or why it could not be built.</summary>
/// <param name="Model">The reference model, or null when it could not be built.</param>
/// <param name="Replaced">How many gradient nodes were replaced by the step derivative.</param>
/// <param name="Reason">Why the reference could not be built, or null when it was.</param>
public sealed record StepDerivativeReference(OnnxModel? Model, int Replaced, string? Reason);

/// <summary>
/// Builds the reference that separates the method's approximation from our implementation of it.
/// ReGELU2/ReSiLU2 change gradients on purpose (the derivative becomes a four-level step), so
/// comparing a rewritten graph's gradients with the original's mixes two things: how far the
/// method is from exact, and whether the kernels and the rewiring compute the method. This copy of
/// the original graph replaces, for every ReGelu2Grad/ReSilu2Grad of the rewritten graph, the
/// original node that produced the same dX by dY ⊙ level[code(X)] written in standard ONNX ops
/// (Greater/Where/Mul in float32, the thresholds and levels from <see cref="TwoBitStepTable.ForNode"/>:
/// the table the gradient op's attributes name or carry).
/// The rewritten graph's gradients must equal this reference to float32 rounding.
/// </summary>
public static class StepDerivativeReferenceBuilder
{
    /// <summary>
    /// The reference for <paramref name="rewritten"/> built from a copy of <paramref name="original"/>
    /// (neither is changed), or a <see cref="StepDerivativeReference.Reason"/> when a gradient op
    /// cannot be traced back to original values.
    /// </summary>
    public static StepDerivativeReference Build(OnnxModel original, OnnxModel rewritten)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(rewritten);
        OnnxModel reference = OnnxModel.FromProto(original.Proto.Clone(), original.FileName, original.BaseDirectory);
        OnnxGraph graph = reference.Graph;
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(graph);
        int replaced = 0;
        foreach (OnnxNode gradient in rewritten.Graph.Nodes.Where(IsTwoBitGradient))
        {
            string dX = gradient.Outputs[0], dY = gradient.Input(0) ?? "", code = gradient.Input(1) ?? "";
            OnnxNode? forward = rewritten.Graph.Producer(code);
            if (forward is null || forward.Input(0) is not { } x)
            {
                return Refused($"no ReGelu2/ReSilu2 node produces the code '{code}' that {gradient.Label} reads");
            }
            if (graph.Producer(dX) is not { Outputs.Count: 1 } replacedNode)
            {
                return Refused($"the original graph has no single-output node producing '{dX}'");
            }
            var nodes = new List<NodeProto>();
            if (ActivationGradientOps.Contains(replacedNode.OpType) && replacedNode.Domain == "com.microsoft" && replacedNode.Input(1) is { } originalX)
            {
                // The original gradient op names its own dY and input: use them, not the rewritten
                // graph's, which the other passes may have rebuilt (an MS-LN fold into the layer
                // before the GELU gives its pre-activation a new bias and a new name).
                dY = replacedNode.Input(0) ?? dY;
                x = originalX;
                if (replacedNode.Input(2) is { Length: > 0 } bias)
                {
                    x = graph.UniqueName($"{dX}/step_reference/biased");
                    nodes.Add(GraphEdits.Node("Add", "", graph.UniqueName($"{dX}/step_reference/BiasAdd"), [originalX, bias], [x]));
                }
            }
            if (!Defined(graph, dY))
            {
                return Refused($"the original graph has no value '{dY}' ({gradient.Label}'s dY)");
            }
            if (nodes.Count == 0 && !Defined(graph, x))
            {
                // The rewrite may add the GELU's bias before ReGelu2: rebuild that Add from the original's values.
                if (rewritten.Graph.Producer(x) is { OpType: "Add" } add && add.Inputs.All(i => Defined(graph, i)))
                {
                    nodes.Add(GraphEdits.Node("Add", "", graph.UniqueName($"{dX}/step_reference/BiasAdd"), add.Inputs, [x]));
                }
                else
                {
                    return Refused($"the original graph has no value '{x}' (the input of {forward.Label})");
                }
            }
            int dyType = types.TryGetValue(dY, out TensorType? t) ? t.ElementType : ElementTypes.Float;
            // The gradient op's own attributes say which table (thresholds in units of x): the
            // paper's, few-bit, or one calibrated for this layer.
            TwoBitStepTable table = TwoBitStepTable.ForNode(gradient);
            nodes.AddRange(StepDerivative(graph, table, x, dY, dX, dyType));
            graph.ReplaceNodes([replacedNode], nodes);
            replaced++;
        }
        graph.RemoveDeadNodes();
        graph.SortNodes();
        return new StepDerivativeReference(reference, replaced, null);
    }

    /// <summary>ONNX Runtime's activation gradients: (dY, X[, bias]) → dX.</summary>
    private static readonly HashSet<string> ActivationGradientOps = new(StringComparer.Ordinal)
    {
        "GeluGrad", "FastGeluGrad", "QuickGeluGrad", "BiasGeluGrad_dX", "BiasFastGeluGrad_dX",
    };

    private static StepDerivativeReference Refused(string reason) => new(null, 0, reason);

    private static bool IsTwoBitGradient(OnnxNode node) =>
        node.Is("ReGelu2Grad", MemoryRuleSupport.Domain) || node.Is("ReSilu2Grad", MemoryRuleSupport.Domain);

    private static bool Defined(OnnxGraph graph, string value) =>
        graph.Producer(value) is not null || graph.IsGraphInput(value) || graph.Initializer(value) is not null;

    /// <summary>dX = dY ⊙ level[code(X)], compared and multiplied in float32 as the kernels do.</summary>
    private static IEnumerable<NodeProto> StepDerivative(OnnxGraph graph, TwoBitStepTable table, string x, string dY, string dX, int dyType)
    {
        string prefix = $"{dX}/step_reference";
        string Name(string hint) => graph.UniqueName($"{prefix}/{hint}");
        string Constant(string hint, float value)
        {
            string name = Name(hint);
            graph.AddInitializer(TensorData.Create(name, ElementTypes.Float, [], [value]));
            return name;
        }

        string xf = Name("x_float"), dyf = Name("dy_float");
        yield return GraphEdits.Node("Cast", "", Name("CastX"), [x], [xf], GraphEdits.Attr("to", (long)ElementTypes.Float));
        yield return GraphEdits.Node("Cast", "", Name("CastDY"), [dY], [dyf], GraphEdits.Attr("to", (long)ElementTypes.Float));
        // level = x > c₂ ? l₃ : x > c₁ ? l₂ : x > c₀ ? l₁ : l₀, built from the innermost choice out.
        string level = Constant("level0", (float)table.Levels[0]);
        for (int i = 0; i < 3; i++)
        {
            string above = Name($"above_c{i}"), chosen = Name($"level_upto_c{i}");
            yield return GraphEdits.Node("Greater", "", Name($"GreaterC{i}"), [xf, Constant($"c{i}", table.FloatThreshold(i))], [above]);
            yield return GraphEdits.Node("Where", "", Name($"WhereC{i}"), [above, Constant($"level{i + 1}", (float)table.Levels[i + 1]), level], [chosen]);
            level = chosen;
        }
        string product = dyType == ElementTypes.Float ? dX : Name("dx_float");
        yield return GraphEdits.Node("Mul", "", Name("Mul"), [dyf, level], [product]);
        if (product != dX)
        {
            yield return GraphEdits.Node("Cast", "", Name("CastDX"), [product], [dX], GraphEdits.Attr("to", (long)dyType));
        }
    }
}
