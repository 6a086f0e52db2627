using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// `fuse` on ONNX Runtime's own fusion test graphs: each decomposed GELU / LayerNorm fuses to
/// exactly one fused op with no decomposed op left (what ONNX Runtime's fusion tests assert), and
/// the fused model computes the same outputs on ONNX Runtime as the original.
/// </summary>
public class FusionConformanceTests(ITestOutputHelper output)
{
    public static readonly HashSet<string> FusedOps = new(StringComparer.Ordinal)
    {
        "Gelu", "com.microsoft:Gelu", "com.microsoft:FastGelu", "com.microsoft:BiasGelu", "com.microsoft:QuickGelu",
        "LayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization", "Swish",
    };

    /// <summary>Ops a decomposed GELU / norm / SiLU is written with; none may survive a fusion.</summary>
    public static readonly HashSet<string> DecomposedOps = new(StringComparer.Ordinal)
    {
        "Erf", "Tanh", "Sigmoid", "Pow", "Sqrt", "Reciprocal", "ReduceMean", "Sub", "Div", "Mul", "Add", "Cast",
    };

    public static TheoryData<string, string> FusionGraphs() => new()
    {
        { "bias_gelu_fusion.onnx", "com.microsoft:BiasGelu" },
        { "fast_gelu.onnx", "com.microsoft:FastGelu" },
        { "fast_gelu2.onnx", "com.microsoft:FastGelu" },
        { "gelu.onnx", "com.microsoft:Gelu" },
        { "gelu_format2_0.onnx", "com.microsoft:Gelu" },
        { "gelu_format2_1.onnx", "com.microsoft:Gelu" },
        { "gelu_opset20.onnx", "Gelu" },
        { "layer_norm.onnx", "LayerNormalization" },
        { "layer_norm_fusion_scale_bias.onnx", "LayerNormalization" },
        { "layer_norm_with_cast.onnx", "LayerNormalization" },
        { "phi-3.5-v-instruct-vision-layernorm.onnx", "LayerNormalization" },
        { "phi-3.5-v-instruct-vision-quickgelu.onnx", "com.microsoft:QuickGelu" },
    };

    [SkippableTheory]
    [MemberData(nameof(FusionGraphs))]
    public void FusesToExactlyOneFusedOp(string file, string expectedOp)
    {
        string path = SharedTestData.RequireFile($"ort-fusion/{file}");
        OnnxModel model = OnnxModel.Load(path);
        FusionPass.Run(model);
        Dictionary<string, int> counts = OpCounts(model);
        output.WriteLine(string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}")));
        Assert.Equal(1, counts.Where(c => FusedOps.Contains(c.Key)).Sum(c => c.Value));
        Assert.Equal(1, counts.GetValueOrDefault(expectedOp));
        Assert.DoesNotContain(counts.Keys, DecomposedOps.Contains);
    }

    [SkippableTheory]
    [MemberData(nameof(FusionGraphs))]
    public void FusedGraphComputesTheSameOutputsOnOnnxRuntime(string file, string expectedOp)
    {
        _ = expectedOp;
        string path = SharedTestData.RequireFile($"ort-fusion/{file}");
        byte[] original = File.ReadAllBytes(path);
        OnnxModel model = OnnxModel.Load(path);
        FusionPass.Run(model);
        var feeds = ModelFeeds.Random(model.Proto, seed: 7);
        var expected = ModelFeeds.Run(original, feeds);
        var actual = ModelFeeds.Run(model.ToBytes(), feeds);
        bool half = model.Proto.Graph.Input.Any(i => i.Type.TensorType.ElemType == (int)OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float16);
        foreach (var (name, values) in expected)
        {
            double diff = ModelFeeds.MaxRelativeDifference(values, actual[name]);
            output.WriteLine($"{name}: max relative difference {diff:E2}");
            Assert.True(diff <= (half ? 2e-3 : 1e-5), $"{name}: {diff:E3}");
        }
    }

    /// <summary>
    /// skip_layer_norm.onnx subtracts mean(X + Y) from X alone, which is no LayerNorm of anything;
    /// ONNX Runtime's LayerNormFusion refuses it too (it requires Sub's input to be the ReduceMean's).
    /// </summary>
    [SkippableFact]
    public void SkipLayerNormGraphWhoseSubReadsAnotherValueIsLeftAlone()
    {
        string path = SharedTestData.RequireFile("ort-fusion/skip_layer_norm.onnx");
        OnnxModel model = OnnxModel.Load(path);
        PassResult result = FusionPass.Run(model);
        Assert.Empty(result.Rewrites);
        Assert.Equal(File.ReadAllBytes(path), model.ToBytes());
    }

    [SkippableFact]
    public void BertToyFusesEveryGeluAndLayerNormAndKeepsItsOutputs()
    {
        string path = SharedTestData.RequireFile("forward/bert_toy_optimized.onnx");
        byte[] original = File.ReadAllBytes(path);
        OnnxModel model = OnnxModel.Load(path);
        PassResult result = FusionPass.Run(model);
        Dictionary<string, int> counts = OpCounts(model);
        Assert.Equal(12, counts["LayerNormalization"]);
        Assert.Equal(6, counts["com.microsoft:BiasGelu"]);
        Assert.False(counts.ContainsKey("Erf"));
        Assert.False(counts.ContainsKey("ReduceMean"));
        Assert.False(counts.ContainsKey("Pow"));
        Assert.Equal(24, result.Rewrites.Count);

        var feeds = ModelFeeds.Random(model.Proto, seed: 3, name => name == "input_ids" ? 99 : 2);
        var expected = ModelFeeds.Run(original, feeds);
        var actual = ModelFeeds.Run(model.ToBytes(), feeds);
        foreach (var (name, values) in expected)
        {
            double diff = ModelFeeds.MaxRelativeDifference(values, actual[name]);
            output.WriteLine($"{name}: max relative difference {diff:E2}");
            Assert.True(diff <= 1e-5, $"{name}: {diff:E3}");
        }
    }

    /// <summary>The LLaMA-2 export's weights are external and absent: fusion must not need them.</summary>
    [SkippableFact]
    public void LlamaFusesEveryRmsNormAndSiluWithoutItsWeights()
    {
        string path = SharedTestData.RequireFile("forward/torchtune_llama2_forward.onnx");
        OnnxModel model = OnnxModel.Load(path);
        FusionPass.Run(model);
        Dictionary<string, int> counts = OpCounts(model);
        Assert.Equal(65, counts["SimplifiedLayerNormalization"]);
        Assert.Equal(32, counts["com.microsoft:QuickGelu"]);
        Assert.False(counts.ContainsKey("Sigmoid"));
        Assert.False(counts.ContainsKey("Pow"));
        Assert.False(counts.ContainsKey("ReduceMean"));
    }

    [SkippableFact]
    public void FusingTwiceEqualsFusingOnce()
    {
        string path = SharedTestData.RequireFile("forward/bert_toy_optimized.onnx");
        OnnxModel model = OnnxModel.Load(path);
        FusionPass.Run(model);
        byte[] once = model.ToBytes();
        PassResult second = FusionPass.Run(model);
        Assert.Empty(second.Rewrites);
        Assert.Equal(once, model.ToBytes());
    }

    public static Dictionary<string, int> OpCounts(OnnxModel model) =>
        model.Graph.Nodes.GroupBy(n => n.Domain.Length > 0 ? $"{n.Domain}:{n.OpType}" : n.OpType)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
}
