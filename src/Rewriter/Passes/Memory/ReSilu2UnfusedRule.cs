using OnnxMemOpt.Graph;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// ReSILU2 for the unfused form ONNX Runtime's gradient builder leaves when its SiLU fusion does
/// not fire: forward s = Sigmoid(X), Y = Mul(X, s); backward dX = Sum(Mul(dY, s),
/// SigmoidGrad(Mul(dY, X), s)). All of it becomes ReSilu2(X) → (Y, Code), ReSilu2Grad(dY, Code) → dX,
/// provided s and Y's product feed nothing else.
/// </summary>
public sealed class ReSilu2UnfusedRule : RewriteRule
{
    private readonly AnyValue _dY = P.Var("dY");
    private readonly AnyValue _x = P.Var("X");
    private readonly NodeValue _sigmoid;

    /// <summary>
    /// Builds the pattern: Sum(Mul(dY, σ(X)), SigmoidGrad(Mul(dY, X), σ(X))), Sum's inputs in either
    /// order.
    /// </summary>
    public ReSilu2UnfusedRule()
    {
        _sigmoid = P.Sigmoid(_x);
        var viaSigmoid = P.Mul(_dY, _sigmoid);
        var viaSigmoidGrad = P.MsOp("SigmoidGrad", P.Mul(_dY, _x), _sigmoid);
        Pattern = new NodeValue("Sum", "", [viaSigmoid, viaSigmoidGrad], commutative: true);
    }

    /// <summary>"resilu2-unfused", as the resilu2 pass's reports name the rule for the unfused form.</summary>
    public override string Name => "resilu2-unfused";

    /// <summary>
    /// The backward sum of the unfused SiLU gradient described above; the forward Mul(X, σ(X)) is found
    /// from the sigmoid.
    /// </summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// False: the match includes the forward Sigmoid, which the forward Mul reads outside the match;
    /// <see cref="Check"/> tests the readers itself.
    /// </summary>
    public override bool ReplacesWholeMatch => false;

    /// <summary>
    /// Refuses when no forward Mul(X, σ(X)) exists, when σ(X) or an intermediate product has readers
    /// outside the SiLU and its gradient, or when some other backward node would still keep X.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        string s = match[_sigmoid];
        if (ForwardProduct(match, context) is not { } product)
        {
            return $"no Mul(X, '{s}') reads the sigmoid in forward";
        }
        var expected = new HashSet<OnnxNode>(match.Nodes.Where(n => !n.Is("Sigmoid")), ReferenceEqualityComparer.Instance) { product };
        if (context.Graph.Consumers(s).FirstOrDefault(n => !expected.Contains(n)) is { } other)
        {
            return $"the sigmoid '{s}' is also read by {other.Label}";
        }
        foreach (OnnxNode inner in match.Nodes.Where(n => !ReferenceEquals(n, match.Root) && !n.Is("Sigmoid")))
        {
            if (context.Graph.Consumers(inner.Outputs[0]).Any(n => !expected.Contains(n)) || context.Graph.IsGraphOutput(inner.Outputs[0]))
            {
                return $"'{inner.Outputs[0]}' is read outside the SiLU gradient";
            }
        }
        return MemoryRuleSupport.StillKeptBy(context, match[_x], [.. match.Nodes, product]);
    }

    /// <summary>
    /// Replaces the forward Sigmoid and Mul by ReSilu2 and the gradient's nodes by ReSilu2Grad (α = 1);
    /// reports |X| minus the code's bytes as saved.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxNode product = ForwardProduct(match, context)!;
        var removed = match.Nodes.Append(product).Distinct().ToList();
        return SiluRewrite.Apply(context, match[_x], match[_dY], product.Outputs[0], match.Root.Outputs[0], 1.0f, removed, product.Label, match.Root.Label);
    }

    private OnnxNode? ForwardProduct(PatternMatch match, RewriteContext context)
    {
        string x = match[_x];
        string s = match[_sigmoid];
        return context.Graph.Consumers(s).FirstOrDefault(n =>
            n.Is("Mul") && ((n.Input(0) == x && n.Input(1) == s) || (n.Input(0) == s && n.Input(1) == x)));
    }
}
