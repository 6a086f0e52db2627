using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Passes.Ordering;
using OnnxMemOpt.Passes.Recompute;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes;

/// <summary>
/// The paper's techniques, one pass each, over training graphs in ONNX Runtime's gradient
/// vocabulary: regelu2, resilu2 (Approx-BP), msln, msrms (MS-BP); then two of the project's own:
/// recompute, which recomputes in backward the elementwise products whose factors backward keeps
/// anyway (<see cref="ProductRecomputeRule"/>), and leaf-order, which places the gradient leaves for
/// ONNX Runtime's execution order (<see cref="GradientLeafOrder"/>).
/// <see cref="Run"/> applies a list of passes (fuse included) in the order given.
/// </summary>
public static class MemoryPasses
{
    /// <summary>
    /// Every pass name `--passes` accepts, in pipeline order (what the bench runs when given no
    /// list): fuse first, so that the memory passes find the fused ops they match.
    /// </summary>
    public static IReadOnlyList<string> All { get; } = [FusionPass.Name, "regelu2", "resilu2", "msln", "msrms", ProductRecomputeRule.PassName, GradientLeafOrder.Name];

    /// <summary>
    /// The rule set of <paramref name="pass"/>; throws <see cref="ArgumentException"/> for an unknown
    /// name, and for leaf-order, which is an ordering and has no rules.
    /// </summary>
    public static RuleSet Rules(string pass) => pass switch
    {
        FusionPass.Name => FusionPass.Rules(),
        "regelu2" => new RuleSet(pass, [new ReGelu2Rule()]),
        "resilu2" => new RuleSet(pass, [new ReSilu2Rule(), new ReSilu2UnfusedRule()]),
        "msln" => new RuleSet(pass, [new MsLayerNormRule()]),
        "msrms" => new RuleSet(pass, [new MsRmsNormRule()]),
        ProductRecomputeRule.PassName => new RuleSet(pass, [new ProductRecomputeRule()]),
        _ => throw new ArgumentException($"unknown pass '{pass}'", nameof(pass)),
    };

    /// <summary>
    /// Applies <paramref name="passes"/> to <paramref name="model"/> in place, in the order given,
    /// types inferred again between passes; returns every pass's records together.
    /// </summary>
    public static PassResult Run(OnnxModel model, IEnumerable<string> passes, DimBindings? dims = null, RewriteOptions? options = null)
    {
        var context = new RewriteContext(model, dims, options);
        var result = new PassResult();
        foreach (string pass in passes)
        {
            result.Add(pass == GradientLeafOrder.Name ? GradientLeafOrder.Apply(context) : Rules(pass).Apply(context));
            context.Invalidate();
        }
        return result;
    }
}
