using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// MS-LN / MS-RMSNorm: a norm whose gradient node reads its input X becomes
/// MsLayerNorm/MsRmsNorm(X) → (ẑ, InvStdDev) and MsLayerNormGrad/MsRmsNormGrad(dẑ, ẑ, InvStdDev) → dX,
/// so backward keeps ẑ, which the linear layers after the norm keep anyway, instead of X as well.
/// The affine stays exact: forward computes γ⊙ẑ + β for the consumers, the weight-gradient path
/// of those linear layers recomputes it from ẑ, dẑ = dY⊙γ, and dγ = Σ dY⊙ẑ, dβ = Σ dY over rows.
/// Refused (with the reason) when the output feeds anything but linear layers, when γ/β are
/// trainable and `--fold-trainable-affine` was not given, or when X would still be kept.
/// </summary>
public abstract class MsNormRule : RewriteRule
{
    private readonly AnyValue _dY = P.Var("dY");
    private readonly AnyValue _x = P.Var("X");
    private readonly AnyValue _scale = P.Var("scale");
    private readonly AnyValue _invStd = P.Var("inv_std");
    private readonly AnyValue _mean = P.Var("mean");

    /// <summary>Ops that only carry the norm's output into a linear layer's weight gradient.</summary>
    private static readonly HashSet<string> WeightGradientPath = new(StringComparer.Ordinal) { "MatMul", "Gemm", "FusedMatMul", "Reshape", "Transpose", "Shape" };

    protected MsNormRule(bool layerNorm)
    {
        IsLayerNorm = layerNorm;
        Pattern = layerNorm
            ? P.MsOp("LayerNormalizationGrad", _dY, _x, _scale, _mean, _invStd)
            : P.MsOp("SimplifiedLayerNormalizationGrad", _dY, _x, _scale, _invStd);
    }

    protected bool IsLayerNorm { get; }

    public override ValuePattern Pattern { get; }

    public override bool ReplacesWholeMatch => false;

    public override string? Check(PatternMatch match, RewriteContext context)
    {
        if (Forward(match, context) is not { } forward)
        {
            return $"no {ForwardOp} node produces the statistics '{match[_invStd]}' from '{match[_x]}'";
        }
        var affine = AffineParameters(forward).ToList();
        if (affine.FirstOrDefault(p => context.Graph.ConstantTensor(p) is null) is { } trainable && !context.Options.FoldTrainableAffine)
        {
            return $"its affine parameter '{trainable}' is trainable; rerun with --fold-trainable-affine to reparameterise (γ⊙ẑ+β applied to the shared ẑ and recomputed for weight gradients)";
        }
        if (context.TypeOf(match[_x])?.Shape is not { } shape)
        {
            return $"the rank of '{match[_x]}' is unknown, so dγ cannot be reduced over its rows";
        }
        long axis = forward.GetInt("axis", -1);
        if (axis < -shape.Rank || axis >= shape.Rank)
        {
            return $"axis {axis} is outside the input's rank {shape.Rank}";
        }
        var phases = TrainingPhases.Classify(context.Graph);
        string y = forward.Outputs[0];
        var others = context.Graph.Consumers(y).Distinct().Where(reader => !ReferenceEquals(reader, forward) && !(phases.IsBackward(reader)
            ? WeightGradientPath.Contains(reader.OpType)
            : ((reader.Is("MatMul") || reader.Is("Gemm") || reader.Is("FusedMatMul", "com.microsoft")) && reader.Input(0) == y) || reader.Is("Shape"))).ToList();
        if (others.Count > 0)
        {
            return $"its output '{y}' also feeds {string.Join(" and ", others.Select(r => $"{r.OpType} {r.Label}"))}: only linear layers can take the normalised ẑ and share it";
        }
        if (context.Graph.IsGraphOutput(y))
        {
            return $"its output '{y}' is a graph output";
        }
        if (!phases.BackwardReaders(y).Any())
        {
            return $"no linear layer keeps '{y}' for backward, so ẑ would be kept in addition to nothing it replaces: no memory saved";
        }
        foreach (string statistic in forward.Outputs.Skip(1).Where(o => o.Length > 0))
        {
            if (context.Graph.Consumers(statistic).Any(n => !ReferenceEquals(n, match.Root)) || context.Graph.IsGraphOutput(statistic))
            {
                return $"the statistic '{statistic}' is read by a node other than {match.Root.Label}";
            }
        }
        return MemoryRuleSupport.StillKeptBy(context, match[_x], match.Root, forward);
    }

    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxGraph graph = context.Graph;
        OnnxNode forward = Forward(match, context)!;
        OnnxNode gradient = match.Root;
        MemoryRuleSupport.EnsureDomain(context);
        var phases = TrainingPhases.Classify(graph);
        string x = match[_x];
        string y = forward.Outputs[0];
        string scale = forward.Inputs[1];
        string? bias = IsLayerNorm ? forward.Input(2) : null;
        long axis = forward.GetInt("axis", -1);
        float epsilon = forward.GetFloat("epsilon", 1e-5f);
        int rank = context.TypeOf(x)!.Shape!.Rank;
        int firstNormalized = (int)(axis < 0 ? axis + rank : axis);
        long? saved = MemoryRuleSupport.Bytes(context, x)
            + (IsLayerNorm ? MemoryRuleSupport.RowStatisticBytes(context, x, axis) : 0);
        var backwardReaders = phases.BackwardReaders(y).ToList();
        bool trainable = AffineParameters(forward).Any(p => graph.ConstantTensor(p) is null);

        string z = graph.UniqueName($"{y}_normalized");
        string invStd = match[_invStd];
        string forwardName = graph.UniqueName($"{forward.Label}/{MsForwardOp}");
        string scope = $"{forward.Label}_Grad/{MsForwardOp}";
        var forwardNodes = new List<NodeProto>
        {
            GraphEdits.Node(MsForwardOp, MemoryRuleSupport.Domain, forwardName, [x], [z, invStd], GraphEdits.Attr("axis", axis), GraphEdits.Attr("epsilon", epsilon)),
        };
        forwardNodes.AddRange(Affine(graph, z, scale, bias, y, $"{forward.Label}/Affine"));
        string recomputed = graph.UniqueName($"{y}_recomputed");
        var recompute = Affine(graph, z, scale, bias, recomputed, $"{scope}/RecomputeAffine").ToList();

        string dY = match[_dY];
        string dZ = graph.UniqueName($"{z}_grad");
        var backwardNodes = new List<NodeProto>
        {
            GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/ScaleGrad"), [dY, scale], [dZ]),
            GraphEdits.Node(MsGradientOp, MemoryRuleSupport.Domain, graph.UniqueName($"{scope}/{MsGradientOp}"), [dZ, z, invStd], [gradient.Outputs[0]], GraphEdits.Attr("axis", axis)),
        };
        long[] rows = Enumerable.Range(0, firstNormalized).Select(i => (long)i).ToArray();
        if (gradient.Output(1) is { } scaleGrad)
        {
            string product = graph.UniqueName($"{scaleGrad}_terms");
            backwardNodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/ScaleGradTerms"), [dY, z], [product]));
            backwardNodes.Add(RowSum(context, product, rows, scaleGrad, $"{scope}/ScaleGradSum"));
        }
        if (gradient.Output(2) is { } biasGrad)
        {
            backwardNodes.Add(RowSum(context, dY, rows, biasGrad, $"{scope}/BiasGradSum"));
        }

        // Each part goes where what it replaces ran: the gradient in backward, the norm in forward,
        // and the recomputed affine just before the first weight-gradient node that reads it.
        graph.ReplaceNodes([gradient], backwardNodes);
        graph.ReplaceNodes([forward], forwardNodes);
        OnnxNode firstReader = backwardReaders.OrderBy(r => graph.Nodes.ToList().IndexOf(r)).First();
        graph.InsertNodesBefore(firstReader, recompute);
        foreach (OnnxNode reader in backwardReaders)
        {
            for (int i = 0; i < reader.Inputs.Count; i++)
            {
                if (reader.Inputs[i] == y) reader.SetInput(i, recomputed);
            }
        }
        MemoryRuleSupport.RedirectBackwardShapeReaders(context, x, z);
        string note = trainable
            ? "trainable affine reparameterised: γ⊙ẑ+β applied to the shared ẑ, recomputed for weight gradients"
            : "affine applied to the shared ẑ";
        return new RuleOutcome(forwardName, saved, note);
    }

    protected abstract string ForwardOp { get; }

    protected abstract string MsForwardOp { get; }

    protected abstract string MsGradientOp { get; }

    private IEnumerable<string> AffineParameters(OnnxNode forward) =>
        IsLayerNorm ? new[] { forward.Input(1), forward.Input(2) }.OfType<string>() : new[] { forward.Input(1) }.OfType<string>();

    private static IEnumerable<NodeProto> Affine(OnnxGraph graph, string z, string scale, string? bias, string output, string name)
    {
        if (bias is null)
        {
            yield return GraphEdits.Node("Mul", "", graph.UniqueName($"{name}/Mul"), [z, scale], [output]);
            yield break;
        }
        string scaled = graph.UniqueName($"{output}_scaled");
        yield return GraphEdits.Node("Mul", "", graph.UniqueName($"{name}/Mul"), [z, scale], [scaled]);
        yield return GraphEdits.Node("Add", "", graph.UniqueName($"{name}/Add"), [scaled, bias], [output]);
    }

    /// <summary>ReduceSum over the row axes, keepdims 0: axes as an input from opset 13, else an attribute.</summary>
    private static NodeProto RowSum(RewriteContext context, string input, long[] rows, string output, string name)
    {
        OnnxGraph graph = context.Graph;
        if (context.OnnxOpset >= 13)
        {
            string axes = graph.UniqueName($"{name}/axes");
            graph.AddInitializer(TensorData.CreateInt64(axes, [rows.Length], rows));
            return GraphEdits.Node("ReduceSum", "", graph.UniqueName(name), [input, axes], [output], GraphEdits.Attr("keepdims", 0L));
        }
        var node = GraphEdits.Node("ReduceSum", "", graph.UniqueName(name), [input], [output], GraphEdits.Attr("keepdims", 0L));
        var attribute = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(rows);
        node.Attribute.Add(attribute);
        return node;
    }

    private OnnxNode? Forward(PatternMatch match, RewriteContext context)
    {
        string invStd = match[_invStd];
        OnnxNode? producer = context.Graph.Producer(invStd);
        if (producer is null || producer.Input(0) != match[_x] || producer.Input(1) != match[_scale])
        {
            return null;
        }
        bool fits = IsLayerNorm
            ? producer.Is("LayerNormalization") && producer.Output(2) == invStd && producer.Output(1) == match[_mean]
            : (producer.Is("SimplifiedLayerNormalization") || producer.Is("RMSNormalization")) && producer.Output(1) == invStd;
        return fits ? producer : null;
    }
}

/// <summary>MS-LN: LayerNormalization + LayerNormalizationGrad → MsLayerNorm + MsLayerNormGrad.</summary>
public sealed class MsLayerNormRule() : MsNormRule(layerNorm: true)
{
    public override string Name => "msln";

    protected override string ForwardOp => "LayerNormalization";

    protected override string MsForwardOp => "MsLayerNorm";

    protected override string MsGradientOp => "MsLayerNormGrad";
}

/// <summary>MS-RMSNorm: SimplifiedLayerNormalization + SimplifiedLayerNormalizationGrad → MsRmsNorm + MsRmsNormGrad.</summary>
public sealed class MsRmsNormRule() : MsNormRule(layerNorm: false)
{
    public override string Name => "msrms";

    protected override string ForwardOp => "SimplifiedLayerNormalization";

    protected override string MsForwardOp => "MsRmsNorm";

    protected override string MsGradientOp => "MsRmsNormGrad";
}
