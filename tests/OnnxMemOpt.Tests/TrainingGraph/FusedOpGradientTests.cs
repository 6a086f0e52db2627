using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.TrainingGraph.RuleGradCheck;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// Finite-difference checks of the rules that emit ONNX Runtime's gradient ops (Softmax, norms,
/// the GELU family, FusedMatMul). Where ONNX Runtime's forward kernel has no float64 version
/// (com.microsoft Gelu, FastGelu, BiasGelu, QuickGelu, FusedMatMul) the check runs in float32
/// with Richardson-extrapolated differences.
/// </summary>
public sealed class FusedOpGradientTests
{
    private const double Tolerance = 1e-6;
    private const double Float32Tolerance = 2e-3;

    [Theory]
    [InlineData("Softmax", 17, -1L)]
    [InlineData("Softmax", 17, 1L)]
    [InlineData("LogSoftmax", 17, -1L)]
    [InlineData("Softmax", 12, 1L)]
    [InlineData("LogSoftmax", 12, 2L)]
    public void SoftmaxFamily(string op, long opset, long axis)
    {
        var m = new TinyModel().Opset("", opset).Initializer(Random("X", [2, 3, 4], 1, min: -2, max: 2))
            .Initializer(Random("W", [2, 3, 4], 2))
            .Node(op, ["X"], ["S"], "", Attr("axis", axis)).Node("Mul", ["S", "W"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["X", "W"]), Tolerance);
    }

    [Theory]
    [InlineData(F64)]
    [InlineData(F32)]
    public void LayerNormalization(global::OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType type)
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 5], 1, type, min: -2, max: 2)).Initializer(Random("G", [5], 2, type)).Initializer(Random("B", [5], 3, type))
            .Node("LayerNormalization", ["X", "G", "B"], ["Y"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f)).WithFloat64Output("Y");
        AssertWithin(Run(m, ["X", "G", "B"]), type == F64 ? Tolerance : Float32Tolerance);
    }

    [Fact]
    public void SimplifiedLayerNormalization()
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 5], 1, min: -2, max: 2)).Initializer(Random("G", [5], 2))
            .Node("SimplifiedLayerNormalization", ["X", "G"], ["Y"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f)).OutputUnshaped("Y", F64);
        // The kernel keeps inv_std_var in float32 (stash_type 1), which bounds the agreement.
        AssertWithin(Run(m, ["X", "G"]), 1e-5);
    }

    [Fact]
    public void RmsNormalizationBecomesSimplifiedLayerNormalization()
    {
        var m = new TinyModel().Opset("", 23).Initializer(Random("X", [2, 3, 5], 1, F32, min: -2, max: 2)).Initializer(Random("G", [5], 2, F32))
            .Node("RMSNormalization", ["X", "G"], ["Y"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f)).WithFloat64Output("Y");
        AssertWithin(Run(m, ["X", "G"]), 5e-3); // float32 rounding of a normalised output bounds the agreement
    }

    [Theory]
    [InlineData("Gelu", "com.microsoft", false)]
    [InlineData("FastGelu", "com.microsoft", false)]
    [InlineData("FastGelu", "com.microsoft", true)]
    [InlineData("BiasGelu", "com.microsoft", true)]
    [InlineData("QuickGelu", "com.microsoft", false)]
    public void GeluFamily(string op, string domain, bool withBias)
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 4], 1, F32, min: -3, max: 3)).Initializer(Random("B", [4], 2, F32));
        string[] inputs = withBias ? ["X", "B"] : ["X"];
        m = op == "QuickGelu"
            ? m.Node(op, inputs, ["Y"], domain, Attr("alpha", 1.0f))
            : m.Node(op, inputs, ["Y"], domain);
        AssertWithin(Run(m.WithFloat64Output("Y"), withBias ? ["X", "B"] : ["X"]), Float32Tolerance);
    }

    [Fact]
    public void QuickGeluWithDefaultAlpha()
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 4], 1, F32, min: -3, max: 3))
            .Node("QuickGelu", ["X"], ["Y"], "com.microsoft").WithFloat64Output("Y");
        AssertWithin(Run(m, ["X"]), Float32Tolerance);
    }

    [Fact]
    public void SwishBecomesQuickGeluGrad()
    {
        // ONNX Swish-24 (x·σ(αx)) in float64: its gradient is QuickGeluGrad with the same alpha.
        var m = new TinyModel().Opset("", 24).Initializer(Random("X", [2, 3, 4], 1, min: -3, max: 3))
            .Node("Swish", ["X"], ["Y"], "", Attr("alpha", 1.0f)).OutputUnshaped("Y", F64);
        AssertWithin(Run(m.Build(), ["X"], expectOp: "QuickGeluGrad"), Tolerance);
    }

    [Fact]
    public void OnnxGeluWithTanhApproximation()
    {
        var m = new TinyModel().Opset("", 20).Initializer(Random("X", [2, 3, 4], 1, F32, min: -3, max: 3))
            .Node("Gelu", ["X"], ["Y"], "", Attr("approximate", "tanh")).WithFloat64Output("Y");
        AssertWithin(Run(m, ["X"]), Float32Tolerance);
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(1L, 0L)]
    [InlineData(0L, 1L)]
    [InlineData(1L, 1L)]
    public void FusedMatMul(long transA, long transB)
    {
        long[] a = transA == 1 ? [2, 4, 3] : [2, 3, 4];
        long[] b = transB == 1 ? [5, 4] : [4, 5];
        var m = new TinyModel().Initializer(Random("A", a, 1, F32)).Initializer(Random("B", b, 2, F32))
            .Node("FusedMatMul", ["A", "B"], ["Y"], "com.microsoft", Attr("alpha", 0.5f), Attr("transA", transA), Attr("transB", transB))
            .WithFloat64Output("Y");
        AssertWithin(Run(m, ["A", "B"]), Float32Tolerance);
    }
}
