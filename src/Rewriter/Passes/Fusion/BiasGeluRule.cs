using OnnxMemOpt.Graph;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// GELU of a biased value, Gelu(a + b) with b one-dimensional over a's last axis, becomes ONNX
/// Runtime's BiasGelu(a, b) (erf) or FastGelu(a, b) (tanh): the form its gradient builder turns
/// into BiasGeluGrad_dX / BiasFastGeluGrad_dX. Runs after the GELU fusions in the same rule set.
/// </summary>
public sealed class BiasGeluRule : RewriteRule
{
    private readonly AnyValue _input = P.Var("a");
    private readonly AnyValue _bias = P.Var("bias");
    private readonly NodeValue _msGelu;
    private readonly NodeValue _msFastGelu;
    private readonly NodeValue _onnxGelu;

    /// <summary>
    /// Builds the pattern: a fused GELU (com.microsoft Gelu or FastGelu, or ONNX Gelu-20) whose input
    /// is an Add.
    /// </summary>
    public BiasGeluRule()
    {
        ValuePattern sum = P.Add(_input, _bias);
        _msGelu = P.MsOp("Gelu", sum);
        _msFastGelu = P.MsOp("FastGelu", sum);
        _onnxGelu = P.Op("Gelu", sum);
        Pattern = P.AnyOf(_msGelu, _msFastGelu, _onnxGelu);
    }

    /// <summary>"bias-gelu", as fuse reports name the rule.</summary>
    public override string Name => "bias-gelu";

    /// <summary>Gelu(a + bias) in any of the three fused GELU ops, with the Add's inputs in either order.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// Refuses unless the shapes are known and the bias is one-dimensional with the length of a's last
    /// axis (equal numbers or the same symbol), the only broadcast the fused ops accept.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        TensorShape? input = context.TypeOf(match[_input])?.Shape;
        TensorShape? bias = context.TypeOf(match[_bias])?.Shape;
        if (input is null || bias is null)
        {
            return "the shapes of the Add's inputs are unknown, so the bias cannot be told from the input";
        }
        if (bias.Rank != 1 || input.Rank < 1)
        {
            return $"the Add is not input + bias over the last axis (shapes {input} and {bias})";
        }
        Dim last = input.Dims[^1];
        if (!(last.IsKnown && bias.Dims[0].IsKnown && last.Value == bias.Dims[0].Value) && !(last.Symbol is { } s && s == bias.Dims[0].Symbol))
        {
            return $"the bias length {bias.Dims[0]} does not equal the input's last dimension {last}";
        }
        return null;
    }

    /// <summary>
    /// Replaces Add and GELU by BiasGelu, or by FastGelu(a, bias) for a tanh GELU, imports
    /// com.microsoft and names the node after the GELU.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        bool tanh = match.TryGet(_msFastGelu) is not null
            || (match.TryGet(_onnxGelu) is not null && match.Root.GetString("approximate", "none") == "tanh");
        string op = tanh ? "FastGelu" : "BiasGelu";
        context.Model.EnsureOpset(FusedOps.Microsoft, 1);
        var node = GraphEdits.Node(op, FusedOps.Microsoft, FusedOps.NameFor(context, match.Root, op), [match[_input], match[_bias]], [match.Root.Outputs[0]]);
        GraphEdits.ReplaceMatch(context, match, node);
        return new RuleOutcome(node.Name);
    }
}
