using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// SiLU x·σ(x) and its scaled form x·σ(αx) (QuickGelu, α = 1.702 in CLIP). Becomes Swish-24 or,
/// below opset 24, ONNX Runtime's QuickGelu(alpha), the op its gradient builder knows.
/// </summary>
public sealed class SiluRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");
    private readonly AnyConstant _alpha = P.Const("alpha");

    /// <summary>Builds the pattern: x·σ(x) or x·σ(x·α) with α any constant.</summary>
    public SiluRule()
    {
        Pattern = P.Mul(_x, P.Sigmoid(P.AnyOf(_x, P.Mul(_x, _alpha))));
    }

    /// <summary>"silu", as fuse reports name the rule.</summary>
    public override string Name => "silu";

    /// <summary>x·σ(x) or x·σ(α·x), Muls in either order.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>x: the fused op has its input's shape.</summary>
    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    /// <summary>
    /// Refuses a scale α that is not a one-element constant: the fused ops take α as a scalar
    /// attribute.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        if (match.TryGet(_alpha) is { } alpha && context.Scope.ConstantValues(alpha) is not { Length: 1 })
        {
            return $"the scale inside the sigmoid ('{alpha}') is not a one-element constant";
        }
        return null;
    }

    /// <summary>Replaces the chain by Swish-24, or QuickGelu below opset 24, with alpha α (1 for plain SiLU).</summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        float alpha = match.TryGet(_alpha) is { } a ? (float)context.Scope.ConstantValues(a)![0] : 1.0f;
        var node = FusedOps.Silu(context, match.Root, match[_x], alpha);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
