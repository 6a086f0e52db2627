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

    public static PassResult Run(OnnxModel model, DimBindings? dims = null) => Run(new RewriteContext(model, dims));

    public static PassResult Run(RewriteContext context) => Rules().Apply(context);
}
