using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Training.Forms;

/// <summary>
/// Rewrites, before differentiation, exporter forms into exact equivalents that the backward pass
/// and the memory passes know: a patch-embedding Conv (no gradient of its own here) into its
/// MatMul, a Gemm between flattening Reshapes (GPT-2's Conv1D) into a MatMul on the token
/// tensor, the linear layer LoRA, MS-LN and the affine folds look for. A candidate a rule
/// refuses stays as it is, with the reason in the result.
/// </summary>
public static class TrainingForms
{
    public const string Name = "training-forms";

    public static RuleSet Rules() => new(Name, [new PatchConvRule(), new FlattenedGemmRule()]);

    public static PassResult Run(OnnxModel model, DimBindings? dims) => Rules().Apply(new RewriteContext(model, dims));
}
