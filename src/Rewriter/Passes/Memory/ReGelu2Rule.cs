using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// ReGELU2: a GELU whose gradient node reads its input X (Gelu + GeluGrad, FastGelu + FastGeluGrad,
/// BiasGelu + BiasGeluGrad_dX, FastGelu(bias) + BiasFastGeluGrad_dX, Gelu-20 + either) becomes
/// ReGelu2(X) → (Y, Code) and ReGelu2Grad(dY, Code) → dX, so backward keeps a 2-bit code instead
/// of X. A bias becomes an Add before ReGelu2 (its gradient, a ReduceSum of dX, stays as built).
/// The tanh forms keep their exact forward op: ReGelu2 then only supplies the code.
/// </summary>
public sealed class ReGelu2Rule : RewriteRule
{
    private readonly AnyValue _dY = P.Var("dY");
    private readonly AnyValue _x = P.Var("X");
    private readonly AnyValue _bias = P.Var("bias");

    /// <summary>Builds the pattern on the four GELU gradient ops of ONNX Runtime's gradient builder.</summary>
    public ReGelu2Rule()
    {
        Pattern = P.AnyOf(
            P.MsOp("GeluGrad", _dY, _x),
            P.MsOp("FastGeluGrad", _dY, _x),
            P.MsOp("BiasGeluGrad_dX", _dY, _x, _bias),
            P.MsOp("BiasFastGeluGrad_dX", _dY, _x, _bias));
    }

    /// <summary>"regelu2", the pass's name, since the pass has this one rule.</summary>
    public override string Name => "regelu2";

    /// <summary>
    /// GeluGrad(dY, X), FastGeluGrad(dY, X), BiasGeluGrad_dX(dY, X, bias) or BiasFastGeluGrad_dX(dY, X,
    /// bias); the forward GELU is found among X's readers.
    /// </summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// False: the match is the gradient node alone, and the forward GELU is replaced or kept by
    /// <see cref="Rewrite"/>.
    /// </summary>
    public override bool ReplacesWholeMatch => false;

    /// <summary>
    /// Refuses when no GELU of the gradient's kind (erf or tanh, same bias) reads X, or when some other
    /// backward node would still keep X.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        if (Forward(match, context) is not { } forward)
        {
            string bias = match.TryGet(_bias) is { } b ? $" with bias '{b}'" : "";
            return $"no GELU node reads '{match[_x]}'{bias} as this gradient expects";
        }
        return MemoryRuleSupport.StillKeptBy(context, match[_x], match.Root, forward);
    }

    /// <summary>
    /// Emits ReGelu2 (after an Add for a bias) in forward and ReGelu2Grad in backward, with the table
    /// of <see cref="RewriteOptions.GeluTable"/>; reports |X| minus the code's bytes as saved.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxGraph graph = context.Graph;
        OnnxNode forward = Forward(match, context)!;
        OnnxNode gradient = match.Root;
        string x = match[_x];
        MemoryRuleSupport.EnsureDomain(context);
        var forwardNodes = new List<Onnx.Proto.NodeProto>();
        string input = x;
        if (match.TryGet(_bias) is { } bias)
        {
            input = graph.UniqueName($"{x}_biased");
            forwardNodes.Add(GraphEdits.Node("Add", "", graph.UniqueName($"{forward.Label}/BiasAdd"), [x, bias], [input]));
            GraphEdits.DeclareLike(context, input, x);
        }
        string code = graph.UniqueName($"{x}_code");
        bool exactErfForward = IsErf(forward);
        string y = exactErfForward ? forward.Outputs[0] : graph.UniqueName($"{forward.Outputs[0]}_erf_unused");
        string name = graph.UniqueName($"{forward.Label}/ReGelu2");
        // The paper's table is the ops' default: the attribute is written only for another one. A
        // calibrated table starts as the paper's; calibration, which runs the model, replaces it.
        string tableName = context.Options.GeluTable;
        AttributeProto[] table = tableName is GeluTables.Yang2024 or GeluTables.Calibrated ? [] : [GraphEdits.Attr("table", tableName)];
        forwardNodes.Add(GraphEdits.Node("ReGelu2", MemoryRuleSupport.Domain, name, [input], [y, code], table));
        long? saved = MemoryRuleSupport.Bytes(context, x) - MemoryRuleSupport.CodeBytes(context, x);

        // Each half goes where the node it replaces ran: the gradient in backward, the op in forward.
        graph.ReplaceNodes([gradient], [GraphEdits.Node("ReGelu2Grad", MemoryRuleSupport.Domain, graph.UniqueName($"{gradient.Label}/ReGelu2Grad"), [match[_dY], code], [gradient.Outputs[0]], table)]);
        if (exactErfForward)
        {
            graph.ReplaceNodes([forward], forwardNodes);
        }
        else
        {
            graph.InsertNodesBefore(forward, forwardNodes);
        }
        MemoryRuleSupport.RedirectBackwardShapeReaders(context, x, forward.Outputs[0]);
        string note = exactErfForward ? $"{forward.OpType} → ReGelu2" : $"{forward.OpType} forward kept exact (tanh form); ReGelu2 supplies the code";
        return new RuleOutcome(name, saved, note);
    }

    private static bool IsErf(OnnxNode forward) =>
        forward.Is("Gelu", "com.microsoft") || forward.Is("BiasGelu", "com.microsoft")
        || (forward.Is("Gelu") && forward.GetString("approximate", "none") == "none");

    private OnnxNode? Forward(PatternMatch match, RewriteContext context)
    {
        string x = match[_x];
        string? bias = match.TryGet(_bias);
        bool tanhGradient = match.Root.OpType.Contains("Fast", StringComparison.Ordinal);
        foreach (OnnxNode reader in context.Graph.Consumers(x))
        {
            if (reader.Input(0) != x || reader.Input(1) != bias)
            {
                continue;
            }
            bool fits = reader.Is("Gelu") && reader.Inputs.Count == 1
                || (!tanhGradient && (reader.Is("Gelu", "com.microsoft") || reader.Is("BiasGelu", "com.microsoft")))
                || (tanhGradient && reader.Is("FastGelu", "com.microsoft"));
            if (fits)
            {
                return reader;
            }
        }
        return null;
    }
}
