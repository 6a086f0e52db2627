using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Training.Forms;

/// <summary>
/// Rewrites, before differentiation, forward ops that have no gradient of their own into exact
/// equivalents that have one (a patch-embedding Conv into its MatMul). A candidate a rule refuses
/// stays as it is; differentiating it then fails with the op named, and the refusal says why.
/// </summary>
public static class DifferentiableForms
{
    public const string Name = "differentiable-forms";

    public static RuleSet Rules() => new(Name, [new PatchConvRule()]);

    public static PassResult Run(OnnxModel model, DimBindings? dims) => Rules().Apply(new RewriteContext(model, dims));
}
