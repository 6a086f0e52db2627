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
    /// <summary>"training-forms": the pass name its records carry in the train-graph report.</summary>
    public const string Name = "training-forms";

    /// <summary>The two rules: patch-conv, then flattened-gemm.</summary>
    public static RuleSet Rules() => new(Name, [new PatchConvRule(), new FlattenedGemmRule()]);

    /// <summary>
    /// Applies the rules to <paramref name="model"/> in place; <paramref name="dims"/> bind symbols for
    /// the shape checks.
    /// </summary>
    public static PassResult Run(OnnxModel model, DimBindings? dims) => Rules().Apply(new RewriteContext(model, dims));
}
