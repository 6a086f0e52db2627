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

    public RmsNormRule()
    {
        _meanSquare = P.ReduceMean(P.Square(_x));
        ValuePattern normalized = P.DivideBy(_x, P.Sqrt(P.Add(_meanSquare, _epsilon)));
        Pattern = P.Mul(P.MaybeCast(normalized), _scale);
    }

    public override string Name => "rms-norm";

    public override ValuePattern Pattern { get; }

    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

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
