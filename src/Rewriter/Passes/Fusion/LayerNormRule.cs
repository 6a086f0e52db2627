using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// LayerNorm written out: d = x − mean(x); y = γ·d / √(mean(d²) + ε) + β, with d² as Pow(d, 2)
/// or Mul(d, d), the division as Div or Mul∘Reciprocal, a duplicated Sub (older PyTorch exports)
/// and Casts after the Sub or the Div (mixed precision), or the whole chain in float32 between a
/// Cast up from a 16-bit x and a Cast back down. Becomes LayerNormalization(x, γ, β).
/// </summary>
public sealed class LayerNormRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");
    private readonly AnyValue _epsilon = P.Var("epsilon");
    private readonly AnyValue _scale = P.Var("scale");
    private readonly AnyValue _bias = P.Var("bias");
    private readonly NodeValue _mean;
    private readonly NodeValue _variance;

    /// <summary>
    /// Builds the pattern: γ·(x − mean(x))/√(mean((x − mean(x))²) + ε) + β, each centring optionally
    /// through a Cast.
    /// </summary>
    public LayerNormRule()
    {
        _mean = P.ReduceMean(_x);
        ValuePattern centredForVariance = P.MaybeCast(P.Sub(_x, _mean));
        ValuePattern centredForOutput = P.MaybeCast(P.Sub(_x, _mean));
        _variance = P.ReduceMean(P.Square(centredForVariance));
        ValuePattern normalized = P.DivideBy(centredForOutput, P.Sqrt(P.Add(_variance, _epsilon)));
        Pattern = P.Add(P.Mul(P.MaybeCast(normalized), _scale), _bias);
    }

    /// <summary>"layer-norm", as fuse reports name the rule.</summary>
    public override string Name => "layer-norm";

    /// <summary>The written-out LayerNorm described above, rooted at the Add of β.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>x: LayerNormalization has its input's shape.</summary>
    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    /// <summary>
    /// Refuses unless both means reduce the same constant trailing axes with keepdims, ε is a small
    /// one-element constant, γ and β have no more axes than the normalised axes, and the output keeps
    /// x's element type (or the chain is a float32 island between Casts).
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        long[]? meanAxes = NormChecks.ReduceAxes(match.NodeOf(_mean), context, out string? reason);
        if (meanAxes is null) return reason;
        long[]? varianceAxes = NormChecks.ReduceAxes(match.NodeOf(_variance), context, out reason);
        if (varianceAxes is null) return reason;
        if (!meanAxes.SequenceEqual(varianceAxes))
        {
            return $"the mean and the variance reduce different axes ([{string.Join(",", meanAxes)}] and [{string.Join(",", varianceAxes)}])";
        }
        if (NormChecks.TrailingAxis(meanAxes, match[_x], context, out reason) is null) return reason;
        if (NormChecks.Epsilon(match[_epsilon], context, out reason) is null) return reason;
        return NormChecks.ParameterRank(match[_scale], meanAxes.Length, context, "scale")
            ?? NormChecks.ParameterRank(match[_bias], meanAxes.Length, context, "bias")
            ?? (NormChecks.WidenedFrom(match[_x], match.Root.Outputs[0], context) is null
                ? NormChecks.SameElementType(match[_x], match.Root.Outputs[0], context)
                : null);
    }

    /// <summary>
    /// Replaces the chain by LayerNormalization(x, γ, β) from the first normalised axis with the
    /// chain's ε; for a float32 island it reads the 16-bit x directly and drops the up-Cast if nothing
    /// else reads it.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        long[] axes = NormChecks.ReduceAxes(match.NodeOf(_mean), context, out _)!;
        long axis = NormChecks.TrailingAxis(axes, match[_x], context, out _)!.Value;
        float epsilon = NormChecks.Epsilon(match[_epsilon], context, out _)!.Value;
        // A chain computed in float32 between a Cast up from 16 bits and the Cast back down is
        // LayerNormalization on the 16-bit input: the op computes in float32 (stash_type 1).
        string? narrow = NormChecks.WidenedFrom(match[_x], match.Root.Outputs[0], context);
        string x = narrow ?? match[_x];
        var node = FusedOps.LayerNorm(context, match.Root, x, match[_scale], match[_bias], axis, epsilon);
        GraphEdits.ReplaceMatch(context, match, node);
        if (narrow is not null) NormChecks.RemoveIfUnread(context, match[_x]);
        return new RuleOutcome(node.Name);
    }
}
