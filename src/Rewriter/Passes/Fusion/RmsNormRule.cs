using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// RMSNorm written out: y = γ · x / √(mean(x²) + ε), with x² as Pow or Mul, the division as Div,
/// Mul∘Reciprocal or Mul by Div(1, ·), and a Cast before the scale. Becomes RMSNormalization-23
/// or, below opset 23, SimplifiedLayerNormalization(x, γ).
/// </summary>
public sealed class RmsNormRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");
    private readonly AnyValue _epsilon = P.Var("epsilon");
    private readonly AnyValue _scale = P.Var("scale");
    private readonly NodeValue _meanSquare;

    /// <summary>Builds the pattern: (x/√(mean(x²) + ε))·γ, optionally through a Cast before the scale.</summary>
    public RmsNormRule()
    {
        _meanSquare = P.ReduceMean(P.Square(_x));
        ValuePattern normalized = P.DivideBy(_x, P.Sqrt(P.Add(_meanSquare, _epsilon)));
        Pattern = P.Mul(P.MaybeCast(normalized), _scale);
    }

    /// <summary>"rms-norm", as fuse reports name the rule.</summary>
    public override string Name => "rms-norm";

    /// <summary>The written-out RMSNorm described above, rooted at the Mul by γ.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>x: the fused norm has its input's shape.</summary>
    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    /// <summary>
    /// Refuses the RMSNorm-shaped tail of a LayerNorm (x is x − mean), then anything but constant
    /// trailing axes with keepdims, a small one-element ε, a γ with no more axes than those normalised,
    /// and an output of x's element type.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        if (context.Graph.Producer(match[_x]) is { } producer && producer.Is("Sub")
            && producer.Input(1) is { } subtrahend && context.Graph.Producer(subtrahend) is { } mean && mean.Is("ReduceMean"))
        {
            return "x is centred by its mean: this is a LayerNorm chain, not an RMSNorm";
        }
        long[]? axes = NormChecks.ReduceAxes(match.NodeOf(_meanSquare), context, out string? reason);
        if (axes is null) return reason;
        if (NormChecks.TrailingAxis(axes, match[_x], context, out reason) is null) return reason;
        if (NormChecks.Epsilon(match[_epsilon], context, out reason) is null) return reason;
        return NormChecks.ParameterRank(match[_scale], axes.Length, context, "scale")
            ?? NormChecks.SameElementType(match[_x], match.Root.Outputs[0], context);
    }

    /// <summary>
    /// Replaces the chain by RMSNormalization-23, or SimplifiedLayerNormalization below opset 23, from
    /// the first normalised axis with the chain's ε.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        long[] axes = NormChecks.ReduceAxes(match.NodeOf(_meanSquare), context, out _)!;
        long axis = NormChecks.TrailingAxis(axes, match[_x], context, out _)!.Value;
        float epsilon = NormChecks.Epsilon(match[_epsilon], context, out _)!.Value;
        var node = FusedOps.RmsNorm(context, match.Root, match[_x], match[_scale], axis, epsilon);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
