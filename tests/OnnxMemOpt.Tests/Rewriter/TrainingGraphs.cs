using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// Small training graphs in ONNX Runtime's gradient vocabulary, written by hand like its gradient
/// builder writes them: X → norm → MatMul(W1) → activation → MatMul(W2) → out, with the upstream
/// gradient out_grad as an input and the gradients of X, W1, W2 (and of γ, β) as outputs.
/// </summary>
public static class TrainingGraphs
{
    public const int Rows = 16;
    public const int Width = 32;
    public const int Hidden = 64;
    public const int Outputs = 8;

    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    public enum Activation { Gelu, FastGelu, QuickGelu, SiluUnfused }

    public enum Norm { LayerNorm, RmsNorm }

    /// <summary>
    /// Random feeds with the weights scaled like an initialised layer (uniform ±√3/√fan_in: unit
    /// variance out), so that activations fall where the 2-bit derivative tables matter.
    /// </summary>
    public static List<Microsoft.ML.OnnxRuntime.NamedOnnxValue> UnitVarianceFeeds(ModelProto model, int seed) =>
        ModelFeeds.Random(model, seed, scale: name => name switch
        {
            "W1" => 1.0 / Math.Sqrt(3.0 * Width),
            "W2" => 1.0 / Math.Sqrt(3.0 * Hidden),
            "gamma" => 1.0 / 3.0,
            _ => 1.0,
        });

    public static ModelProto Build(Norm norm, Activation activation, bool trainableAffine)
    {
        var model = new TinyModel()
            .Input("X_in", F, Rows, Width)
            .Input("W1", F, Width, Hidden)
            .Input("W2", F, Hidden, Outputs)
            .Input("out_grad", F, Rows, Outputs);
        var random = new Random(11);
        float[] Values(int n, double center) => Enumerable.Range(0, n).Select(_ => (float)(center + (random.NextDouble() - 0.5))).ToArray();
        if (trainableAffine)
        {
            model.Input("gamma", F, Width);
            if (norm == Norm.LayerNorm) model.Input("beta", F, Width);
        }
        else
        {
            model.Initializer(FloatTensor("gamma", [Width], Values(Width, 1.0)));
            if (norm == Norm.LayerNorm) model.Initializer(FloatTensor("beta", [Width], Values(Width, 0.0)));
        }

        // Forward. X is computed (as a norm's input is in a real model), so it counts as an activation.
        model.Node("Identity", ["X_in"], ["X"]);
        if (norm == Norm.LayerNorm)
        {
            model.Node("LayerNormalization", ["X", "gamma", "beta"], ["Y", "mean", "inv_std"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f));
        }
        else
        {
            model.Node("SimplifiedLayerNormalization", ["X", "gamma"], ["Y", "inv_std"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f));
        }
        model.Node("MatMul", ["Y", "W1"], ["H"]);
        switch (activation)
        {
            case Activation.Gelu: model.Node("Gelu", ["H"], ["A"], "com.microsoft"); break;
            case Activation.FastGelu: model.Node("FastGelu", ["H"], ["A"], "com.microsoft"); break;
            case Activation.QuickGelu: model.Node("QuickGelu", ["H"], ["A"], "com.microsoft", Attr("alpha", 1.0f)); break;
            case Activation.SiluUnfused:
                model.Node("Sigmoid", ["H"], ["S"]);
                model.Node("Mul", ["H", "S"], ["A"]);
                break;
        }
        model.Node("MatMul", ["A", "W2"], ["out"]);

        // Backward, as ONNX Runtime's gradient builder writes it.
        model.Node("Gemm", ["A", "out_grad"], ["W2_grad"], "", Attr("transA", 1L));
        model.Node("Gemm", ["out_grad", "W2"], ["A_grad"], "", Attr("transB", 1L));
        switch (activation)
        {
            case Activation.Gelu: model.Node("GeluGrad", ["A_grad", "H"], ["H_grad"], "com.microsoft"); break;
            case Activation.FastGelu: model.Node("FastGeluGrad", ["A_grad", "H"], ["H_grad"], "com.microsoft"); break;
            case Activation.QuickGelu: model.Node("QuickGeluGrad", ["A_grad", "H"], ["H_grad"], "com.microsoft", Attr("alpha", 1.0f)); break;
            case Activation.SiluUnfused:
                model.Node("Mul", ["A_grad", "S"], ["H_grad_direct"]);
                model.Node("Mul", ["A_grad", "H"], ["S_grad"]);
                model.Node("SigmoidGrad", ["S_grad", "S"], ["H_grad_sigmoid"], "com.microsoft");
                model.Node("Sum", ["H_grad_direct", "H_grad_sigmoid"], ["H_grad"]);
                break;
        }
        model.Node("Gemm", ["Y", "H_grad"], ["W1_grad"], "", Attr("transA", 1L));
        model.Node("Gemm", ["H_grad", "W1"], ["Y_grad"], "", Attr("transB", 1L));
        if (norm == Norm.LayerNorm)
        {
            model.Node("LayerNormalizationGrad", ["Y_grad", "X", "gamma", "mean", "inv_std"], ["X_grad", "gamma_grad", "beta_grad"], "com.microsoft", Attr("axis", -1L));
        }
        else
        {
            model.Node("SimplifiedLayerNormalizationGrad", ["Y_grad", "X", "gamma", "inv_std"], ["X_grad", "gamma_grad"], "com.microsoft", Attr("axis", -1L));
        }

        model.Output("out", F, Rows, Outputs)
            .Output("X_grad", F, Rows, Width)
            .Output("W1_grad", F, Width, Hidden)
            .Output("W2_grad", F, Hidden, Outputs);
        if (trainableAffine)
        {
            model.Output("gamma_grad", F, Width);
            if (norm == Norm.LayerNorm) model.Output("beta_grad", F, Width);
        }
        return model.Build();
    }
}
