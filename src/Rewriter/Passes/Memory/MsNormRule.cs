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
/// The affine y = γ⊙ẑ + β stays exact:
/// - frozen γ, β fold into every following linear layer with a frozen weight (<see cref="LinearFold"/>),
///   which then reads ẑ and gives its share of dẑ directly;
/// - the other forward readers (trainable weights such as LoRA A, a post-LN residual Add) read an
///   explicit γ⊙ẑ + β, which disappears when none is left;
/// - weight gradients that read y read ẑ instead (<see cref="NormalizedWeightGradient"/>), so y is
///   not kept for backward; dẑ = dY⊙γ (+ the folded terms), dγ = Σ dY⊙ẑ, dβ = Σ dY over rows.
/// Refused (with the reason) when a backward node other than a weight gradient reads y, when γ/β
/// are trainable and `--fold-trainable-affine` was not given, or when X would still be kept.
/// The rewrite's note says per norm what was folded, what stayed explicit and why.
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

    /// <summary>
    /// Builds the pattern on the norm's gradient node: LayerNormalizationGrad when
    /// <paramref name="layerNorm"/>, else SimplifiedLayerNormalizationGrad.
    /// </summary>
    protected MsNormRule(bool layerNorm)
    {
        IsLayerNorm = layerNorm;
        Pattern = layerNorm
            ? P.MsOp("LayerNormalizationGrad", _dY, _x, _scale, _mean, _invStd)
            : P.MsOp("SimplifiedLayerNormalizationGrad", _dY, _x, _scale, _invStd);
    }

    /// <summary>True for MS-LN (a β and a mean output to handle), false for MS-RMSNorm.</summary>
    protected bool IsLayerNorm { get; }

    /// <summary>
    /// The norm's gradient node: (dY, X, γ, mean, inv_std) for LayerNorm, (dY, X, γ, inv_std) for
    /// RMSNorm; the forward norm is found from inv_std.
    /// </summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// False: the match is the gradient node alone, and the rule replaces the forward norm too,
    /// checking its readers itself.
    /// </summary>
    public override bool ReplacesWholeMatch => false;

    /// <summary>
    /// Refuses with the reasons listed above, and when no matching forward norm produces the
    /// statistics, X's rank is unknown, the axis is out of range, y is a graph output, nothing in
    /// backward keeps y (so nothing would be saved), or a statistic has other readers.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        if (Forward(match, context) is not { } forward)
        {
            return $"no {ForwardOp} node produces the statistics '{match[_invStd]}' from '{match[_x]}'";
        }
        var affine = AffineParameters(forward).ToList();
        if (affine.FirstOrDefault(p => context.Graph.ConstantTensor(p) is null) is { } trainable && !context.Options.FoldTrainableAffine)
        {
            return $"its affine parameter '{trainable}' is trainable; rerun with --fold-trainable-affine to reparameterise (γ⊙ẑ+β applied to the shared ẑ, weight gradients computed from ẑ)";
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
        var phases = context.Phases;
        string y = forward.Outputs[0];
        // Forward readers of y may be anything: what cannot take the folded ẑ (a post-LN residual
        // Add, a trainable weight, a pooling Gather) reads the explicit γ⊙ẑ+β. Every backward
        // reader must be on a linear layer's weight-gradient path, which can take ẑ instead of y;
        // any other would keep y (or X) alive after all.
        var others = context.Graph.Consumers(y)
            .Where(reader => !ReferenceEquals(reader, forward) && phases.IsBackward(reader) && !WeightGradientPath.Contains(reader.OpType))
            .ToList();
        if (others.Count > 0)
        {
            return $"its output '{y}' is also read in backward by {string.Join(" and ", others.Select(r => $"{r.OpType} {r.Label}"))}: only linear layers' weight gradients can take the shared ẑ instead";
        }
        if (context.Graph.IsGraphOutput(y))
        {
            return $"its output '{y}' is a graph output";
        }
        // Backward Shape readers read only y's shape; they keep nothing that ẑ could replace.
        if (!phases.BackwardReaders(y).Any(n => !n.Is("Shape")))
        {
            if (CastCopyKeptInBackward(context, phases, y) is { } cast)
            {
                return $"{cast.Label} sits between it and the layers that keep its output (mixed precision): they keep the cast copy, which ẑ cannot replace, so no memory is saved";
            }
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

    /// <summary>
    /// Replaces norm and gradient by the MS forward and gradient ops, folds γ, β where it can, moves
    /// weight gradients to ẑ, and reports X's bytes (and the mean's for LayerNorm) as saved, with a
    /// note of what was done per norm.
    /// </summary>
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
        TensorShape shape = context.TypeOf(x)!.Shape!;
        int firstNormalized = (int)(axis < 0 ? axis + shape.Rank : axis);
        long? saved = MemoryRuleSupport.Bytes(context, x)
            + (IsLayerNorm ? MemoryRuleSupport.RowStatisticBytes(context, x, axis) : 0);
        bool trainable = AffineParameters(forward).Any(p => graph.ConstantTensor(p) is null);
        // k: the normalised width, when the norm runs over the last axis only (the weight
        // gradients and folds lay γ, β along it).
        long? width = firstNormalized == shape.Rank - 1 ? shape.Dims[^1].Value : null;

        string z = graph.UniqueName($"{y}_normalized");
        string invStd = match[_invStd];
        string forwardName = graph.UniqueName($"{forward.Label}/{MsForwardOp}");
        string scope = $"{forward.Label}_Grad/{MsForwardOp}";
        var affine = new NormAffine(context, scale, bias, z, y, width, scope);
        var notes = new List<string>();

        // Frozen γ, β go into the frozen linear layers after the norm (planned before any edit).
        string dY = match[_dY];
        var folds = PlanFolds(context, phases, forward, gradient, affine, dY, notes);
        var foldedWeights = folds.Select(f => f.Describe(f.Apply(context, affine))).ToList();
        if (foldedWeights.Count > 0)
        {
            notes.Insert(0, $"γ{(bias is null ? "" : ", β")} folded into {string.Join(", ", foldedWeights)}");
        }

        var forwardNodes = new List<NodeProto>
        {
            GraphEdits.Node(MsForwardOp, MemoryRuleSupport.Domain, forwardName, [x], [z, invStd], GraphEdits.Attr("axis", axis), GraphEdits.Attr("epsilon", epsilon)),
        };
        foreach (OnnxNode shapeReader in graph.Consumers(y).Where(n => n.Is("Shape") && !phases.IsBackward(n)).ToList())
        {
            shapeReader.SetInput(0, z);
        }
        var explicitReaders = graph.Consumers(y).Where(n => !ReferenceEquals(n, forward) && !phases.IsBackward(n)).ToList();
        if (explicitReaders.Count > 0 || graph.IsGraphOutput(y))
        {
            forwardNodes.AddRange(affine.Apply(y, $"{forward.Label}/Affine"));
            notes.Add($"γ⊙ẑ{(bias is null ? "" : "+β")} explicit for {string.Join(", ", explicitReaders.Select(r => r.Label))}");
        }

        // dẑ = dY⊙γ, with the folded layers' input gradients added after the γ multiply.
        var normalizedGradient = new NormalizedGradient(graph, dY, folds.SelectMany(f => f.Contributions).ToList());
        var backwardNodes = new List<NodeProto>();
        string dZ = normalizedGradient.Build(graph, scale, z, scope, backwardNodes);
        backwardNodes.Add(GraphEdits.Node(MsGradientOp, MemoryRuleSupport.Domain, graph.UniqueName($"{scope}/{MsGradientOp}"), [dZ, z, invStd], [gradient.Outputs[0]], GraphEdits.Attr("axis", axis)));
        long[] rows = Enumerable.Range(0, firstNormalized).Select(i => (long)i).ToArray();
        if (gradient.Output(1) is { } scaleGrad && MemoryRuleSupport.IsUsed(graph, scaleGrad))
        {
            string product = graph.UniqueName($"{scaleGrad}_terms");
            backwardNodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/ScaleGradTerms"), [dY, z], [product]));
            backwardNodes.Add(MemoryRuleSupport.ReduceSum(context, product, rows, keepDims: false, scaleGrad, $"{scope}/ScaleGradSum"));
        }
        if (gradient.Output(2) is { } biasGrad && MemoryRuleSupport.IsUsed(graph, biasGrad))
        {
            backwardNodes.Add(MemoryRuleSupport.ReduceSum(context, dY, rows, keepDims: false, biasGrad, $"{scope}/BiasGradSum"));
        }

        // Each part goes where what it replaces ran: the gradient in backward, the norm in forward.
        graph.ReplaceNodes([gradient], backwardNodes);
        normalizedGradient.RewriteAccumulation(graph);
        graph.ReplaceNodes([forward], forwardNodes);

        // Weight gradients that read y now read ẑ; any left over get γ⊙ẑ+β recomputed just
        // before the first of them.
        var (left, fromNormalized) = NormalizedWeightGradient.Rewrite(context, affine);
        if (fromNormalized.Count > 0)
        {
            notes.Add($"weight gradients from ẑ (diag(γ)·ẑᵀ·dH{(bias is null ? "" : " + β⊗Σ dH")}) in {string.Join(", ", fromNormalized)}");
        }
        if (left.Count > 0)
        {
            NormalizedWeightGradient.Recompute(context, affine, left);
            notes.Add($"γ⊙ẑ{(bias is null ? "" : "+β")} recomputed for {string.Join(", ", left.Select(r => r.Label))}");
        }
        MemoryRuleSupport.RedirectBackwardShapeReaders(context, x, z);
        if (trainable)
        {
            notes.Insert(0, "trainable affine reparameterised (--fold-trainable-affine): γ⊙ẑ+β applied to the shared ẑ");
        }
        return new RuleOutcome(forwardName, saved, string.Join("; ", notes));
    }

    /// <summary>
    /// Folds for the forward readers of y that can take frozen γ, β; the others keep reading the
    /// explicit γ⊙ẑ+β, and the notes say why.
    /// </summary>
    private List<LinearFold> PlanFolds(RewriteContext context, TrainingPhases phases, OnnxNode forward, OnnxNode gradient, NormAffine affine, string dY, List<string> notes)
    {
        OnnxGraph graph = context.Graph;
        var readers = graph.Consumers(affine.Output).Where(n => !ReferenceEquals(n, forward) && !phases.IsBackward(n) && !n.Is("Shape")).ToList();
        if (readers.Count == 0)
        {
            return [];
        }
        string? refusal = !affine.IsFrozen ? "γ, β are trainable"
            : affine.Width is null ? "the normalised width is unknown or the norm spans more than the last axis"
            : graph.Consumers(dY).Any(n => !ReferenceEquals(n, gradient)) || graph.IsGraphOutput(dY) ? $"its gradient '{dY}' is read elsewhere"
            : gradient.Outputs.Skip(1).Any(o => o.Length > 0 && MemoryRuleSupport.IsUsed(graph, o)) ? "the gradients of γ, β are used"
            : null;
        if (refusal is not null)
        {
            notes.Add($"no fold ({refusal})");
            return [];
        }
        var folds = new List<LinearFold>();
        var refused = new List<string>();
        foreach (OnnxNode reader in readers)
        {
            if (LinearFold.Plan(context, phases, affine, reader, dY, out string reason) is { } fold)
            {
                folds.Add(fold);
            }
            else
            {
                refused.Add($"{reader.Label}: {reason}");
            }
        }
        if (refused.Count > 0)
        {
            notes.Add($"not folded: {string.Join("; ", refused)}");
        }
        return folds;
    }

    /// <summary>A Cast (through further Casts) after y whose output backward keeps, or null.</summary>
    private static OnnxNode? CastCopyKeptInBackward(RewriteContext context, TrainingPhases phases, string y)
    {
        var pending = new Stack<string>([y]);
        for (int visited = 0; pending.Count > 0 && visited < 64; visited++)
        {
            foreach (OnnxNode cast in context.Graph.Consumers(pending.Pop()).Where(n => n.Is("Cast") && !phases.IsBackward(n)))
            {
                if (phases.BackwardReaders(cast.Outputs[0]).Any(n => !n.Is("Shape"))) return cast;
                pending.Push(cast.Outputs[0]);
            }
        }
        return null;
    }

    /// <summary>
    /// The forward norm op named in refusals ("LayerNormalization" or "SimplifiedLayerNormalization").
    /// </summary>
    protected abstract string ForwardOp { get; }

    /// <summary>The com.onnxmemopt forward op the norm becomes, producing ẑ and InvStdDev.</summary>
    protected abstract string MsForwardOp { get; }

    /// <summary>The com.onnxmemopt gradient op that computes dX from dẑ, ẑ and InvStdDev.</summary>
    protected abstract string MsGradientOp { get; }

    private IEnumerable<string> AffineParameters(OnnxNode forward) =>
        IsLayerNorm ? new[] { forward.Input(1), forward.Input(2) }.OfType<string>() : new[] { forward.Input(1) }.OfType<string>();

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
    /// <summary>"msln", the pass's name, since the pass has this one rule.</summary>
    public override string Name => "msln";

    /// <summary>"LayerNormalization".</summary>
    protected override string ForwardOp => "LayerNormalization";

    /// <summary>"MsLayerNorm".</summary>
    protected override string MsForwardOp => "MsLayerNorm";

    /// <summary>"MsLayerNormGrad".</summary>
    protected override string MsGradientOp => "MsLayerNormGrad";
}

/// <summary>MS-RMSNorm: SimplifiedLayerNormalization + SimplifiedLayerNormalizationGrad → MsRmsNorm + MsRmsNormGrad.</summary>
public sealed class MsRmsNormRule() : MsNormRule(layerNorm: false)
{
    /// <summary>"msrms", the pass's name, since the pass has this one rule.</summary>
    public override string Name => "msrms";

    /// <summary>"SimplifiedLayerNormalization" (RMSNormalization-23 is matched as well).</summary>
    protected override string ForwardOp => "SimplifiedLayerNormalization";

    /// <summary>"MsRmsNorm".</summary>
    protected override string MsForwardOp => "MsRmsNorm";

    /// <summary>"MsRmsNormGrad".</summary>
    protected override string MsGradientOp => "MsRmsNormGrad";
}
