using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// GELU in tanh form, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with the inner term written
/// either as √(2/π)·x·(1 + 0.044715·x·x) (Megatron, ONNX Runtime's fast_gelu test) or as
/// √(2/π)·(x + 0.044715·x³) with Pow(x, 3) or x·(0.044715·x²).
/// </summary>
public sealed class TanhGeluRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");

    public TanhGeluRule()
    {
        ValuePattern cubicCoefficientTimesSquare = P.AnyOf(
            P.Mul(_x, P.Mul(_x, P.Value(KnownConstants.GeluCubic))),
            P.Mul(P.Mul(_x, _x), P.Value(KnownConstants.GeluCubic)),
            P.Mul(P.Pow(_x, P.Value(2.0)), P.Value(KnownConstants.GeluCubic)));
        ValuePattern cubicTerm = P.AnyOf(
            P.Mul(P.Pow(_x, P.Value(3.0)), P.Value(KnownConstants.GeluCubic)),
            P.Mul(_x, cubicCoefficientTimesSquare));
        ValuePattern inner = P.AnyOf(
            P.Mul(P.Mul(_x, P.Value(KnownConstants.SqrtTwoOverPi)), P.Add(cubicCoefficientTimesSquare, P.Value(1.0))),
            P.Mul(P.Add(_x, cubicTerm), P.Value(KnownConstants.SqrtTwoOverPi)));
        Pattern = P.Product(_x, P.Value(KnownConstants.Half), P.Add(P.Tanh(inner), P.Value(1.0)));
    }

    public override string Name => "tanh-gelu";

    public override ValuePattern Pattern { get; }

    public override string? ShapeKeptFrom(PatternMatch match) => match[_x];

    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        var node = FusedOps.Gelu(context, match.Root, match[_x], tanh: true);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
