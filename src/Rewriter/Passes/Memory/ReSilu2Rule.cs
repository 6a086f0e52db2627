using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// ReSILU2 for the fused form: QuickGelu(X, α) + QuickGeluGrad(dY, X, α) (SiLU when α = 1, as ONNX
/// Runtime's pre-training fusion writes it) becomes ReSilu2(X, α) → (Y, Code) and
/// ReSilu2Grad(dY, Code, α) → dX. The forward stays exact; backward keeps 2 bits per element.
/// </summary>
public sealed class ReSilu2Rule : RewriteRule
{
    private readonly AnyValue _dY = P.Var("dY");
    private readonly AnyValue _x = P.Var("X");

    /// <summary>Builds the pattern on QuickGeluGrad(dY, X).</summary>
    public ReSilu2Rule()
    {
        Pattern = P.MsOp("QuickGeluGrad", _dY, _x);
    }

    /// <summary>"resilu2", as the pass's reports name the rule for the fused form.</summary>
    public override string Name => "resilu2";

    /// <summary>QuickGeluGrad(dY, X); the forward QuickGelu with the same alpha is found among X's readers.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// False: the match is the gradient node alone; the forward QuickGelu is replaced by
    /// <see cref="Rewrite"/>.
    /// </summary>
    public override bool ReplacesWholeMatch => false;

    /// <summary>
    /// Refuses when no QuickGelu with the gradient's alpha reads X, when alpha is not positive, or when
    /// some other backward node would still keep X.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        float alpha = match.Root.GetFloat("alpha", 1.702f);
        if (Forward(match, context, alpha) is not { } forward)
        {
            return $"no QuickGelu node with alpha {alpha} reads '{match[_x]}'";
        }
        if (alpha <= 0)
        {
            return $"alpha {alpha} is not positive, so the ReSiLU2 thresholds cᵢ/α do not apply";
        }
        return MemoryRuleSupport.StillKeptBy(context, match[_x], match.Root, forward);
    }

    /// <summary>
    /// Replaces QuickGelu by ReSilu2 and QuickGeluGrad by ReSilu2Grad, each where its original ran;
    /// reports |X| minus the code's bytes as saved.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        float alpha = match.Root.GetFloat("alpha", 1.702f);
        OnnxNode forward = Forward(match, context, alpha)!;
        return SiluRewrite.Apply(context, match[_x], match[_dY], forward.Outputs[0], match.Root.Outputs[0], alpha, [forward, match.Root], forward.Label, match.Root.Label);
    }

    private OnnxNode? Forward(PatternMatch match, RewriteContext context, float alpha) =>
        context.Graph.Consumers(match[_x]).FirstOrDefault(n =>
            n.Is("QuickGelu", "com.microsoft") && n.Input(0) == match[_x] && n.GetFloat("alpha", 1.702f) == alpha);
}

/// <summary>The substitution both ReSiLU2 rules end in.</summary>
internal static class SiluRewrite
{
    public static RuleOutcome Apply(RewriteContext context, string x, string dY, string y, string dX, float alpha, IReadOnlyCollection<OnnxNode> removed, string forwardLabel, string gradientLabel)
    {
        OnnxGraph graph = context.Graph;
        MemoryRuleSupport.EnsureDomain(context);
        string code = graph.UniqueName($"{x}_code");
        string name = graph.UniqueName($"{forwardLabel}/ReSilu2");
        long? saved = MemoryRuleSupport.Bytes(context, x) - MemoryRuleSupport.CodeBytes(context, x);
        // Each half goes where the nodes it replaces ran: the gradient in backward, the op in forward.
        var phases = TrainingPhases.Classify(graph);
        graph.ReplaceNodes(removed.Where(phases.IsBackward).ToList(),
            [GraphEdits.Node("ReSilu2Grad", MemoryRuleSupport.Domain, graph.UniqueName($"{gradientLabel}/ReSilu2Grad"), [dY, code], [dX], GraphEdits.Attr("alpha", alpha))]);
        graph.ReplaceNodes(removed.Where(n => !phases.IsBackward(n)).ToList(),
            [GraphEdits.Node("ReSilu2", MemoryRuleSupport.Domain, name, [x], [y, code], GraphEdits.Attr("alpha", alpha))]);
        MemoryRuleSupport.RedirectBackwardShapeReaders(context, x, y);
        return new RuleOutcome(name, saved, alpha == 1.0f ? "SiLU" : $"x·σ({alpha}·x)");
    }
}
