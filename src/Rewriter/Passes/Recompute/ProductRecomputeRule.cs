using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Recompute;

/// <summary>
/// An elementwise product that backward reads, P = a ⊙ b, is recomputed in backward instead of kept
/// when backward keeps both factors anyway. The case it is for: SwiGLU's P = silu(gate) ⊙ up, which
/// the down projection's LoRA-A (or weight) gradient reads, while the product's own gradient already
/// keeps silu(gate) and up; after ReSiLU2 these three tensors of the MLP's width are most of what a
/// LLaMA block keeps. The backward readers of P read P' = b ⊙ a, computed just before the first of
/// them, so P dies after its forward readers: |P| bytes less at the peak for one multiply in backward.
/// The factors are swapped on purpose: ONNX Runtime's common-subexpression elimination merges nodes
/// with the same op and the same inputs in the same order, and would fold P' back into P.
/// Not part of the paper's method; the pass is named "recompute" and can be left out with --passes.
/// </summary>
public sealed class ProductRecomputeRule : RewriteRule
{
    /// <summary>"recompute": the pass name in `--passes`; the rule reports under it too.</summary>
    public const string PassName = "recompute";

    private readonly AnyValue _a = P.Var("a");
    private readonly AnyValue _b = P.Var("b");

    /// <summary>Builds the pattern: a Mul with its factors bound in the node's input order.</summary>
    public ProductRecomputeRule()
    {
        // Written non-commutative so that a and b bind to the node's own input order.
        Pattern = P.Op("Mul", _a, _b);
    }

    /// <summary>"recompute", the pass's name, since the pass has this one rule.</summary>
    public override string Name => PassName;

    /// <summary>Mul(a, b), not commutative, so that the recomputation can swap a and b.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// False: the product stays for its forward readers; only backward readers move to the
    /// recomputation.
    /// </summary>
    public override bool ReplacesWholeMatch => false;

    /// <summary>Only products that forward computes and backward reads are worth a look.</summary>
    public override bool IsCandidate(OnnxNode root, RewriteContext context)
    {
        var phases = context.Phases;
        return !phases.IsBackward(root) && root.Output(0) is { } product && DataReaders(phases, product).Any();
    }

    /// <summary>
    /// Refuses graph outputs, non-float products, squares, factors backward does not keep, and Shape
    /// readers with no same-shape factor; defers to an outer product of this one, which is recomputed
    /// first.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        var phases = context.Phases;
        if (Refusal(match.Root, phases, context) is { } reason)
        {
            return reason;
        }
        // Outer products first: recomputing P would leave backward only P's recomputation, and a
        // product that has P as a factor could then no longer be recomputed. Once the outer one is,
        // its recomputation reads P in backward and P's own turn comes in the next sweep.
        string product = match.Root.Outputs[0];
        OnnxNode? outer = context.Graph.Consumers(product).FirstOrDefault(c =>
            c.Is("Mul") && !phases.IsBackward(c) && c.Output(0) is { } o && DataReaders(phases, o).Any() && Refusal(c, phases, context) is null);
        return outer is null ? null : $"'{outer.Outputs[0]}', a product of '{product}', is recomputed first";
    }

    /// <summary>Null when <paramref name="mul"/>'s product can be recomputed in backward, else why not.</summary>
    private static string? Refusal(OnnxNode mul, TrainingPhases phases, RewriteContext context)
    {
        OnnxGraph graph = context.Graph;
        string product = mul.Outputs[0];
        if (graph.IsGraphOutput(product))
        {
            return $"'{product}' is a graph output, so it is kept whatever backward reads";
        }
        if (context.TypeOf(product) is not { } type || !ElementTypes.IsFloatingPoint(type.ElementType))
        {
            return $"the type of '{product}' is unknown or not floating point";
        }
        if (mul.Inputs[0] == mul.Inputs[1])
        {
            // Nothing to swap: ONNX Runtime would merge the recomputation back into the product.
            return $"'{product}' squares one value, and ONNX Runtime's common-subexpression elimination would merge its recomputation back into it";
        }
        foreach (string factor in mul.Inputs.Distinct())
        {
            // Initializers and graph inputs are resident for the whole step anyway.
            bool resident = graph.Initializer(factor) is not null || graph.IsGraphInput(factor);
            if (!resident && !DataReaders(phases, factor).Any())
            {
                return $"backward does not keep '{factor}', so recomputing '{product}' would keep '{factor}' in its place";
            }
        }
        if (phases.BackwardReaders(product).Any(r => r.Is("Shape")) && SameShapeFactor(context, mul) is null)
        {
            return $"a backward Shape node reads '{product}' and neither factor has its shape to read instead";
        }
        return null;
    }

    /// <summary>
    /// Inserts Mul(b, a) before the product's first backward reader, points every backward data reader
    /// at it (Shape readers at a factor of the same shape) and reports |P| as the bytes saved.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxGraph graph = context.Graph;
        string product = match.Root.Outputs[0];
        var phases = TrainingPhases.Classify(graph);
        var position = new Dictionary<OnnxNode, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < graph.Nodes.Count; i++) position[graph.Nodes[i]] = i;
        List<OnnxNode> readers = DataReaders(phases, product).OrderBy(r => position[r]).ToList();
        List<OnnxNode> shapeReaders = phases.BackwardReaders(product).Where(r => r.Is("Shape")).ToList();

        string recomputed = graph.UniqueName($"{product}{TrainingPhases.RecomputeSuffix}");
        string name = TrainingPhases.RecomputationName(graph, match.Root.Label);
        graph.InsertNodesBefore(readers[0], [GraphEdits.Node("Mul", "", name, [match[_b], match[_a]], [recomputed])]);
        GraphEdits.DeclareLike(context, recomputed, product);
        foreach (OnnxNode reader in readers)
        {
            Redirect(reader, product, recomputed);
        }
        if (shapeReaders.Count > 0)
        {
            string sameShape = SameShapeFactor(context, match.Root)!;
            foreach (OnnxNode shape in shapeReaders) Redirect(shape, product, sameShape);
        }
        return new RuleOutcome(name, MemoryRuleSupport.Bytes(context, product),
            $"'{product}' recomputed in backward from '{match[_b]}' and '{match[_a]}', which backward keeps anyway");
    }

    /// <summary>Backward nodes that read the value's data (a Shape node reads only its shape).</summary>
    private static IEnumerable<OnnxNode> DataReaders(TrainingPhases phases, string value) =>
        phases.BackwardReaders(value).Where(r => !r.Is("Shape"));

    private static string? SameShapeFactor(RewriteContext context, OnnxNode mul)
    {
        TensorShape? shape = context.TypeOf(mul.Outputs[0])?.Shape;
        return shape is null || !shape.IsFullyKnown ? null
            : mul.Inputs.FirstOrDefault(f => context.TypeOf(f)?.Shape is { } s && s.Equals(shape));
    }

    private static void Redirect(OnnxNode reader, string from, string to)
    {
        for (int i = 0; i < reader.Inputs.Count; i++)
        {
            if (reader.Inputs[i] == from) reader.SetInput(i, to);
        }
    }
}
