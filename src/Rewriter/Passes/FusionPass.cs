using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Fusion;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes;

/// <summary>
/// `fuse`: replaces what exporters write out op by op (erf and tanh GELU, bias + GELU, LayerNorm
/// and RMSNorm chains, x·σ(αx)) by one fused op each. Needs no weight values: only the small
/// constants inside the chains are read, so models whose weights are external and absent fuse too.
/// </summary>
public static class FusionPass
{
    /// <summary>"fuse": the pass name in `--passes` and in reports.</summary>
    public const string Name = "fuse";

    /// <summary>
    /// Rule order matters where chains overlap: the norms first (an RMSNorm-shaped tail sits inside
    /// every LayerNorm, and the RMSNorm rule refuses it), then GELU, then the bias fusion that
    /// needs a fused GELU to hang on.
    /// </summary>
    public static RuleSet Rules() => new(Name,
    [
        new LayerNormRule(),
        new RmsNormRule(),
        new ErfGeluRule(),
        new TanhGeluRule(),
        new BiasGeluRule(),
        new SiluRule(),
    ]);

    /// <summary>
    /// Fuses <paramref name="model"/> in place with default options; <paramref name="dims"/> bind
    /// symbols for the rules' shape checks.
    /// </summary>
    public static PassResult Run(OnnxModel model, DimBindings? dims = null) => Run(new RewriteContext(model, dims));

    /// <summary>
    /// Fuses the graph of <paramref name="context"/>, as one step of a pipeline sharing that context.
    /// </summary>
    public static PassResult Run(RewriteContext context) => Rules().Apply(context);
}
