using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Rules;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>The gradient rules by (domain, op type). Domain "*" rules serve every domain.</summary>
public sealed class GradientRules
{
    private readonly Dictionary<(string, string), IGradientRule> _rules = new();

    /// <summary>
    /// A registry of <paramref name="rules"/> under every (domain, op) each declares; a later rule for
    /// the same op replaces an earlier one.
    /// </summary>
    public GradientRules(IEnumerable<IGradientRule> rules)
    {
        foreach (IGradientRule rule in rules)
        {
            foreach ((string domain, string op) in rule.Ops)
            {
                _rules[(domain, op)] = rule;
            }
        }
    }

    /// <summary>Every rule this project ships.</summary>
    public static GradientRules Default { get; } = new(
    [
        new MatMulGradient(), new FusedMatMulGradient(), new GemmGradient(),
        new AddSubGradient(), new MulGradient(), new DivGradient(), new PowGradient(),
        new UnaryMathGradients(), new ActivationGradients(), new GeluFamilyGradients(),
        new SoftmaxGradients(), new LayerNormGradient(), new SimplifiedLayerNormGradient(),
        new ReductionGradients(), new ReshapeLikeGradients(), new TransposeGradient(),
        new ConcatGradient(), new SplitGradient(), new SliceGradient(), new GatherGradient(),
        new ExpandGradient(), new WhereGradient(), new CastGradient(), new DropoutGradient(),
        new TriluGradient(), new CrossEntropyGradient(), new PiecewiseGradients(),
    ]);

    /// <summary>
    /// The rule for <paramref name="node"/>'s domain and op, else a "*" rule for its op, else null (the
    /// op has no gradient here).
    /// </summary>
    public IGradientRule? For(OnnxNode node) =>
        _rules.GetValueOrDefault((node.Domain, node.OpType)) ?? _rules.GetValueOrDefault(("*", node.OpType));

    /// <summary>
    /// Every op with a rule, as `op` (default or any domain) or `domain:op`, sorted: what an
    /// unsupported-op refusal lists.
    /// </summary>
    public IEnumerable<string> SupportedOps => _rules.Keys.Select(k => k.Item1 is "" or "*" ? k.Item2 : $"{k.Item1}:{k.Item2}").Order(StringComparer.Ordinal);
}
