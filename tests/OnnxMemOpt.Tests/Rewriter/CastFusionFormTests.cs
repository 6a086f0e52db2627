using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// The mixed-precision and ORTModule forms of ONNX Runtime's fusion tests that are not among
/// ../shared's graphs, built here from their generators (onnxruntime/test/testdata/transform/fusion:
/// fast_gelu3_with_casts.py, layer_norm_with_cast_3.py's GenerateModel2, and
/// graph_transform_test_layernorm.cc's BuildLayerNorm), with ONNX Runtime's expectation for the
/// CPU provider, and torch's own tanh-GELU export. Each fused graph must compute what the
/// original computes on ONNX Runtime.
/// </summary>
public class CastFusionFormTests(ITestOutputHelper output)
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;
    private const TensorProto.Types.DataType F16 = TensorProto.Types.DataType.Float16;

    private static TensorProto Scalar(string name, int type, double value) => TensorData.Create(name, type, [], [value]);

    /// <summary>fast_gelu3_with_casts: x cast to float for each use (ORTModule's GPT-2), 0.5·x cast again.</summary>
    private static ModelProto FastGeluWithCasts() => new TinyModel()
        .Opset("", 13)
        .Input("input", F32, null, null, 64)
        .Output("output", F32, null, null, 64)
        .Initializer(Scalar("pow_init", ElementTypes.Float, 3))
        .Initializer(Scalar("mul1_init", ElementTypes.Float, 0.044714998453855515))
        .Initializer(Scalar("mul2_init", ElementTypes.Float, 0.7978845834732056))
        .Initializer(Scalar("mul3_init", ElementTypes.Float, 0.5))
        .Initializer(Scalar("add2_init", ElementTypes.Float, 1.0))
        .Node("Identity", ["input"], ["x"])
        .Node("Cast", ["x"], ["cast1"], "", TinyModel.Attr("to", 1L))
        .Node("Pow", ["cast1", "pow_init"], ["pow1"])
        .Node("Mul", ["pow1", "mul1_init"], ["mul1"])
        .Node("Cast", ["x"], ["cast2"], "", TinyModel.Attr("to", 1L))
        .Node("Add", ["mul1", "cast2"], ["add1"])
        .Node("Mul", ["add1", "mul2_init"], ["mul2"])
        .Node("Tanh", ["mul2"], ["tanh"])
        .Node("Add", ["tanh", "add2_init"], ["add2"])
        .Node("Mul", ["x", "mul3_init"], ["mul5"])
        .Node("Cast", ["mul5"], ["cast3"], "", TinyModel.Attr("to", 1L))
        .Node("Mul", ["cast3", "add2"], ["mul6"])
        .Node("Identity", ["mul6"], ["output"])
        .Build();

    /// <summary>The same after ONNX Runtime's common-subexpression elimination: one Cast(x) read twice.</summary>
    private static ModelProto FastGeluWithMergedCasts()
    {
        ModelProto model = FastGeluWithCasts();
        NodeProto second = model.Graph.Node.Single(n => n.Output[0] == "cast2");
        model.Graph.Node.Remove(second);
        foreach (NodeProto node in model.Graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == "cast2") node.Input[i] = "cast1";
        }
        return model;
    }

    /// <summary>layer_norm_with_cast_4: x16 → Cast(float) → LayerNorm chain in float32 → Cast(float16) → γ16, β16.</summary>
    private static ModelProto LayerNormBetweenCasts() => new TinyModel()
        .Opset("", 12)
        .Input("A", F16, 16, 32, 4)
        .Output("C", F16, 16, 32, 4)
        .Initializer(Scalar("pow_in_2", ElementTypes.Float, 2))
        .Initializer(Scalar("const_0", ElementTypes.Float, 0))
        .Initializer(TensorData.Create("gamma", ElementTypes.Float16, [4], [1, 2, 3, 4]))
        .Initializer(TensorData.Create("beta", ElementTypes.Float16, [4], [1, 2, 3, 4]))
        .Node("Cast", ["A"], ["cast_A"], "", TinyModel.Attr("to", 1L))
        .Node("ReduceMean", ["cast_A"], ["rd1_out"], "", TinyModel.Attr("axes", [-1L]))
        .Node("Sub", ["cast_A", "rd1_out"], ["sub1_out"])
        .Node("Sub", ["cast_A", "rd1_out"], ["sub2_out"])
        .Node("Pow", ["sub1_out", "pow_in_2"], ["pow_out"])
        .Node("ReduceMean", ["pow_out"], ["rd2_out"], "", TinyModel.Attr("axes", [-1L]))
        .Node("Add", ["rd2_out", "const_0"], ["add1_out"])
        .Node("Sqrt", ["add1_out"], ["sqrt_out"])
        .Node("Div", ["sub2_out", "sqrt_out"], ["div_out"])
        .Node("Cast", ["div_out"], ["cast_out"], "", TinyModel.Attr("to", 10L))
        .Node("Mul", ["gamma", "cast_out"], ["mul_out"])
        .Node("Add", ["beta", "mul_out"], ["C"])
        .Build();

    /// <summary>BuildLayerNorm (LayerNormWithCastFusionTest_5): the centring in float16, the variance and division in float32.</summary>
    private static ModelProto LayerNormCastAfterSub() => new TinyModel()
        .Opset("", 14)
        .Input("x", F16, 2, 3, 3, 3)
        .Output("y", F16, 2, 3, 3, 3)
        .Initializer(Scalar("two", ElementTypes.Float, 2))
        .Initializer(Scalar("epsilon", ElementTypes.Float, 1e-5))
        .Initializer(TensorData.Create("weight", ElementTypes.Float16, [3], [1, 1, 1]))
        .Initializer(TensorData.Create("bias", ElementTypes.Float16, [3], [0, 0, 0]))
        .Node("ReduceMean", ["x"], ["mean"], "", TinyModel.Attr("axes", [-1L]))
        .Node("Sub", ["x", "mean"], ["centred"])
        .Node("Cast", ["centred"], ["centred_f"], "", TinyModel.Attr("to", 1L))
        .Node("Pow", ["centred_f", "two"], ["squared"])
        .Node("ReduceMean", ["squared"], ["variance"], "", TinyModel.Attr("axes", [-1L]))
        .Node("Add", ["variance", "epsilon"], ["shifted"])
        .Node("Sqrt", ["shifted"], ["std"])
        .Node("Div", ["centred_f", "std"], ["normalized"])
        .Node("Cast", ["normalized"], ["normalized_h"], "", TinyModel.Attr("to", 10L))
        .Node("Mul", ["normalized_h", "weight"], ["scaled"])
        .Node("Add", ["scaled", "bias"], ["y"])
        .Build();

    /// <summary>torch.onnx's export of F.gelu(x, approximate="tanh"): x³ as x·(x·x), the constants before their operands.</summary>
    private static ModelProto TorchTanhGelu() => new TinyModel()
        .Input("x", F32, null, 8)
        .Output("y", F32, null, 8)
        .Initializer(Scalar("c", ElementTypes.Float, 0.044714998453855515))
        .Initializer(Scalar("s", ElementTypes.Float, 0.7978845834732056))
        .Initializer(Scalar("one", ElementTypes.Float, 1))
        .Initializer(Scalar("half", ElementTypes.Float, 0.5))
        .Node("Mul", ["x", "x"], ["square"])
        .Node("Mul", ["x", "square"], ["cube"])
        .Node("Mul", ["c", "cube"], ["cubic"])
        .Node("Add", ["x", "cubic"], ["inner"])
        .Node("Mul", ["s", "inner"], ["scaled"])
        .Node("Tanh", ["scaled"], ["tanh"])
        .Node("Add", ["one", "tanh"], ["one_plus"])
        .Node("Mul", ["x", "one_plus"], ["product"])
        .Node("Mul", ["half", "product"], ["y"])
        .Build();

    /// <summary>HF LlamaRMSNorm on float16: Cast(float) → RMS chain → Cast(float16) → weight16.</summary>
    private static ModelProto RmsNormBetweenCasts() => new TinyModel()
        .Input("x", F16, null, 8)
        .Output("y", F16, null, 8)
        .Initializer(Scalar("two", ElementTypes.Float, 2))
        .Initializer(Scalar("epsilon", ElementTypes.Float, 1e-6))
        .Initializer(Scalar("one", ElementTypes.Float, 1))
        .Initializer(TensorData.Create("weight", ElementTypes.Float16, [8], [1, 1.1, 0.9, 1, 1.2, 0.8, 1, 1.05]))
        .Node("Cast", ["x"], ["xf"], "", TinyModel.Attr("to", 1L))
        .Node("Pow", ["xf", "two"], ["squared"])
        .Node("ReduceMean", ["squared"], ["variance"], "", TinyModel.Attr("axes", [-1L]))
        .Node("Add", ["variance", "epsilon"], ["shifted"])
        .Node("Sqrt", ["shifted"], ["std"])
        .Node("Div", ["one", "std"], ["rstd"])
        .Node("Mul", ["xf", "rstd"], ["normalized"])
        .Node("Cast", ["normalized"], ["normalized_h"], "", TinyModel.Attr("to", 10L))
        .Node("Mul", ["weight", "normalized_h"], ["y"])
        .Build();

    public static TheoryData<string, string, int> FusingForms() => new()
    {
        // ONNX Runtime leaves one Cast in the two GELU forms (the Cast of x to float, a no-op it
        // does not remove); the rule takes that no-op Cast into the match, so none is left.
        { nameof(FastGeluWithCasts), "com.microsoft:FastGelu", 0 },
        { nameof(FastGeluWithMergedCasts), "com.microsoft:FastGelu", 0 },
        { nameof(TorchTanhGelu), "com.microsoft:FastGelu", 0 },
        { nameof(LayerNormBetweenCasts), "LayerNormalization", 0 },
        { nameof(LayerNormCastAfterSub), "LayerNormalization", 0 },
    };

    private static ModelProto Form(string name) => name switch
    {
        nameof(FastGeluWithCasts) => FastGeluWithCasts(),
        nameof(FastGeluWithMergedCasts) => FastGeluWithMergedCasts(),
        nameof(TorchTanhGelu) => TorchTanhGelu(),
        nameof(LayerNormBetweenCasts) => LayerNormBetweenCasts(),
        nameof(LayerNormCastAfterSub) => LayerNormCastAfterSub(),
        nameof(RmsNormBetweenCasts) => RmsNormBetweenCasts(),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(FusingForms))]
    public void FusesToOneOpAndComputesTheSame(string form, string fusedOp, int castsLeft)
    {
        ModelProto original = Form(form);
        OnnxModel model = OnnxModel.FromProto(original.Clone());
        FusionPass.Run(model);
        Dictionary<string, int> counts = FusionConformanceTests.OpCounts(model);
        output.WriteLine(string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}")));
        Assert.Equal(1, counts.GetValueOrDefault(fusedOp));
        Assert.Equal(castsLeft, counts.GetValueOrDefault("Cast"));
        Assert.DoesNotContain(counts.Keys, k => k != "Identity" && k != "Cast" && FusionConformanceTests.DecomposedOps.Contains(k));

        var feeds = ModelFeeds.Random(original, seed: 11);
        var expected = ModelFeeds.Run(original.ToByteArray(), feeds);
        var actual = ModelFeeds.Run(model.ToBytes(), feeds);
        bool half = original.Graph.Output.Any(o => o.Type.TensorType.ElemType == (int)F16);
        foreach (var (name, values) in expected)
        {
            double diff = ModelFeeds.MaxRelativeDifference(values, actual[name]);
            output.WriteLine($"{name}: max relative difference {diff:E2}");
            Assert.True(diff <= (half ? 2e-3 : 1e-5), $"{name}: {diff:E3}");
        }
    }

    /// <summary>
    /// ONNX Runtime fuses SimplifiedLayerNormalization between float16 Casts for the CUDA provider
    /// only; on the CPU the chain stays, and so it does here, with the reason.
    /// </summary>
    [Fact]
    public void RmsNormBetweenHalfCastsIsRefusedWithAReason()
    {
        OnnxModel model = OnnxModel.FromProto(RmsNormBetweenCasts());
        PassResult result = FusionPass.Run(model);
        Assert.DoesNotContain(result.Rewrites, r => r.Rule == "rms-norm");
        SkipRecord refusal = Assert.Single(result.Skipped, s => s.Rule == "rms-norm");
        output.WriteLine(refusal.Reason);
        Assert.Contains("float16", refusal.Reason, StringComparison.Ordinal);
    }
}
