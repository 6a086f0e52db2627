using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// GELU in erf form, 0.5·x·(1 + erf(x/√2)), in every grouping exporters write: (x·0.5)·(1+erf),
/// (x·(erf+1))·0.5, 0.5·((1+erf)·x), with x/√2 as a Div or as a Mul by 1/√2.
/// </summary>
public sealed class ErfGeluRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");

    /// <summary>Builds the pattern: the product of x, ½ and 1 + erf(x/√2), grouped any way.</summary>
    public ErfGeluRule()
    {
        ValuePattern onePlusErf = P.Add(P.Erf(P.DivideBy(_x, KnownConstants.Sqrt2)), P.Value(1.0));
        Pattern = P.Product(_x, P.Value(KnownConstants.Half), onePlusErf);
    }

    /// <summary>"erf-gelu", as fuse reports name the rule.</summary>
    public override string Name => "erf-gelu";

    /// <summary>x·½·(1 + erf(x/√2)) in every grouping of the two Muls, x/√2 as a Div or a Mul by 1/√2.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>x: the fused GELU has its input's shape.</summary>
    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    /// <summary>Replaces the chain by exact GELU on x (Gelu-20, or com.microsoft Gelu below opset 20).</summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        var node = FusedOps.Gelu(context, match.Root, match[_x], tanh: false);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
