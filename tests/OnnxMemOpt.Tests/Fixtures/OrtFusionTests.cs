using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Onnx.Proto;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// ONNX Runtime's own graph fusions were written against real exporter output; when they turn every
/// decomposed LayerNorm/RMSNorm and erf-GELU chain of a fixture into a fused op, the chains are in
/// the form exporters write.
/// </summary>
public sealed class OrtFusionTests(ITestOutputHelper output)
{
    private static readonly string[] LayerNormOps = ["LayerNormalization", "SkipLayerNormalization", "EmbedLayerNormalization"];
    private static readonly string[] RmsNormOps = ["SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization"];
    private static readonly string[] GeluOps = ["Gelu", "BiasGelu", "FastGelu"];
    private static readonly string[] DecomposedOps = ["ReduceMean", "Pow", "Sqrt", "Erf", "Sigmoid"];

    [Fact]
    public void VitNormsAndGelusAreFused() =>
        AssertFused("vit-tiny", FixtureCatalog.VitTiny.Blocks, LayerNormOps, GeluOps);

    [Fact]
    public void RobertaNormsAndGelusAreFused() =>
        AssertFused("roberta-tiny", FixtureCatalog.RobertaTiny.Blocks, LayerNormOps, GeluOps);

    [Fact]
    public void LlamaRmsNormsAndSilusAreFused() =>
        // ORT writes x·σ(x) as QuickGelu with alpha 1.
        AssertFused("llama-tiny", FixtureCatalog.LlamaTiny.Blocks, RmsNormOps, ["QuickGelu"]);

    private void AssertFused(string name, int blocks, string[] normOps, string[] activationOps)
    {
        var optimized = OptimizeWithOrt(FixtureCatalog.BuildBytes(name));
        var counts = optimized.Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine(string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")));

        // Two norms per block plus the final (ViT, LLaMA) or embedding (RoBERTa) norm.
        Assert.Equal(2 * blocks + 1, normOps.Sum(op => counts.GetValueOrDefault(op)));
        Assert.Equal(blocks, activationOps.Sum(op => counts.GetValueOrDefault(op)));
        Assert.All(DecomposedOps, op => Assert.False(counts.ContainsKey(op), $"{op} left unfused"));
    }

    private static ModelProto OptimizeWithOrt(byte[] model)
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxmemopt-ort-optimized-{Guid.NewGuid():N}.onnx");
        try
        {
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                OptimizedModelFilePath = path,
            };
            using (new InferenceSession(model, options))
            {
            }
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
