using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training.Autodiff;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Training.Forms;

/// <summary>
/// A linear layer written as Reshape(Gemm(Reshape(x, [-1, K]), W, b), [..., N]): GPT-2's Conv1D,
/// `addmm(b, x.view(-1, K), W).view(*x.shape[:-1], N)`, becomes MatMul(x, W) + b on the token
/// tensor itself (W behind a Transpose under transB). The same products and sums; what changes is
/// that the layer reads x directly, so LoRA finds it as a linear layer and MS-LN sees the norm
/// output kept by the layer that reads it.
/// </summary>
public sealed class FlattenedGemmRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");
    private readonly AnyValue _w = P.Var("W");
    private readonly AnyValue _flat = P.Var("flat_shape");
    private readonly AnyValue _tokens = P.Var("token_shape");
    private readonly NodeValue _gemm;

    /// <summary>Builds the pattern: Reshape(Gemm(Reshape(x, flat_shape), W[, b]), token_shape).</summary>
    public FlattenedGemmRule()
    {
        _gemm = new NodeValue("Gemm", "", [P.Op("Reshape", _x, _flat), _w], commutative: false) { AllowExtraInputs = true };
        Pattern = P.Op("Reshape", _gemm, _tokens);
    }

    /// <summary>"flattened-gemm", as the training-forms report names the rule.</summary>
    public override string Name => "flattened-gemm";

    /// <summary>
    /// The outer Reshape of a Gemm whose first input is a Reshape of x; the bias may be present or not.
    /// </summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// Refuses a Gemm that transposes A or scales, a weight that is not a constant matrix, a bias that
    /// is not a vector of the N outputs, and reshapes that do more than flatten and restore x's leading
    /// dims.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        OnnxNode gemm = match.NodeOf(_gemm);
        if (gemm.GetInt("transA", 0) != 0 || gemm.GetFloat("alpha", 1f) != 1f || gemm.GetFloat("beta", 1f) != 1f)
        {
            return "the Gemm transposes or scales its operands";
        }
        if (context.Graph.ConstantTensor(match[_w]) is not { Dims.Count: 2 } weight)
        {
            return $"its weight '{match[_w]}' is not a constant matrix";
        }
        long n = gemm.GetInt("transB", 0) != 0 ? weight.Dims[0] : weight.Dims[1];
        if (gemm.Input(2) is { Length: > 0 } c && (context.TypeOf(c)?.Shape is not { } cShape || cShape.Rank > 1 || cShape.Rank == 1 && cShape.Dims[0].Value != n))
        {
            return $"its bias '{c}' is not a vector of the {n} outputs";
        }
        TensorShape? x = context.TypeOf(match[_x])?.Shape, y = context.TypeOf(match.Root.Outputs[0])?.Shape;
        if (x is not { Rank: >= 2 } || y is null || y.Rank != x.Rank)
        {
            return $"the ranks of '{match[_x]}' and '{match.Root.Outputs[0]}' are unknown or differ";
        }
        // The outer Reshape must restore x's leading dims: equal numbers or the same symbols.
        for (int i = 0; i < x.Rank - 1; i++)
        {
            if (!x.Dims[i].IsKnown && x.Dims[i].Symbol is null || x.Dims[i] != y.Dims[i])
            {
                return $"the result's dim {i} ({y.Dims[i]}) is not the input's ({x.Dims[i]}): the reshapes do more than flatten the tokens";
            }
        }
        if (y.Dims[^1].Value != n)
        {
            return $"the result's last dim ({y.Dims[^1]}) is not the layer's {n} outputs";
        }
        return null;
    }

    /// <summary>
    /// Replaces the three nodes by MatMul(x, W) (W through a Transpose when transB) and an Add of the
    /// bias, under the Gemm's name.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxNode gemm = match.NodeOf(_gemm);
        OnnxGraph graph = context.Graph;
        string scope = gemm.Name.Length > 0 ? gemm.Name : gemm.Outputs[0];
        string y = match.Root.Outputs[0];
        string? bias = gemm.Input(2) is { Length: > 0 } c ? c : null;
        var nodes = new List<NodeProto>();
        string weight = match[_w];
        if (gemm.GetInt("transB", 0) != 0)
        {
            string transposed = graph.UniqueName($"{scope}/weight_t");
            nodes.Add(GraphEdits.Node("Transpose", "", graph.UniqueName($"{scope}/Transpose"), [weight], [transposed], GraphEmitter.Ints("perm", [1, 0])));
            weight = transposed;
        }
        string product = bias is null ? y : graph.UniqueName($"{scope}/MatMul_output");
        nodes.Add(GraphEdits.Node("MatMul", "", graph.UniqueName($"{scope}/MatMul"), [match[_x], weight], [product]));
        if (bias is not null)
        {
            nodes.Add(GraphEdits.Node("Add", "", graph.UniqueName($"{scope}/Add"), [product, bias], [y]));
        }
        GraphEdits.ReplaceMatch(context, match, [.. nodes]);
        return new RuleOutcome(scope);
    }
}
