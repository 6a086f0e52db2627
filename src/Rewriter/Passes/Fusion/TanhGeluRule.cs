using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// GELU in tanh form, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with the inner term written
/// either as √(2/π)·x·(1 + 0.044715·x·x) (Megatron, ONNX Runtime's fast_gelu test) or as
/// √(2/π)·(x + 0.044715·x³) with x³ as Pow(x, 3) (GPT-2's `gelu_new`) or x·(x·x) (torch's own
/// `gelu(approximate="tanh")` export), or as x·(0.044715·x²); x may be read through Casts to its
/// own type (ONNX Runtime's fast_gelu3_with_casts, from ORTModule's GPT-2).
/// </summary>
public sealed class TanhGeluRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");

    /// <summary>
    /// Builds the pattern from every form of the inner polynomial listed above, each read of x through
    /// an optional Cast.
    /// </summary>
    public TanhGeluRule()
    {
        // x may be read through a Cast to its own type: ORTModule's GPT-2 export casts x to float
        // once per use (common-subexpression elimination merges them), and casts 0.5·x again.
        // (A pattern binds to one value per match, so each read of x gets its own optional Cast.)
        ValuePattern X() => P.MaybeCast(_x);
        ValuePattern cubicCoefficientTimesSquare = P.AnyOf(
            P.Mul(X(), P.Mul(X(), P.Value(KnownConstants.GeluCubic))),
            P.Mul(P.Mul(X(), X()), P.Value(KnownConstants.GeluCubic)),
            P.Mul(P.Pow(X(), P.Value(2.0)), P.Value(KnownConstants.GeluCubic)));
        ValuePattern cubicTerm = P.AnyOf(
            P.Mul(P.Cube(X()), P.Value(KnownConstants.GeluCubic)),
            P.Mul(X(), cubicCoefficientTimesSquare));
        ValuePattern inner = P.AnyOf(
            P.Mul(P.Mul(X(), P.Value(KnownConstants.SqrtTwoOverPi)), P.Add(cubicCoefficientTimesSquare, P.Value(1.0))),
            P.Mul(P.Add(X(), cubicTerm), P.Value(KnownConstants.SqrtTwoOverPi)));
        ValuePattern onePlusTanh = P.Add(P.Tanh(inner), P.Value(1.0));
        Pattern = P.AnyOf(
            P.Product(X(), P.Value(KnownConstants.Half), onePlusTanh),
            P.Mul(P.MaybeCast(P.Mul(X(), P.Value(KnownConstants.Half))), onePlusTanh));
    }

    /// <summary>
    /// Refuses a match whose Casts change the element type: the fused op computes in the input's type,
    /// not in the one the chain cast to.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        int? type = context.TypeOf(match[_x])?.ElementType;
        if (match.Nodes.FirstOrDefault(n => n.Is("Cast") && n.GetInt("to", 0) != type) is { } cast)
        {
            return $"{cast.Label} changes the element type inside the GELU; the fused op would compute in the input's";
        }
        return null;
    }

    /// <summary>"tanh-gelu", as fuse reports name the rule.</summary>
    public override string Name => "tanh-gelu";

    /// <summary>0.5·x·(1 + tanh(inner)) in every grouping, or (0.5·x, optionally cast)·(1 + tanh(inner)).</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>x: the fused GELU has its input's shape.</summary>
    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    /// <summary>
    /// Replaces the chain by tanh GELU on x (Gelu-20 with approximate "tanh", or com.microsoft FastGelu
    /// below opset 20).
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        var node = FusedOps.Gelu(context, match.Root, match[_x], tanh: true);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
