using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>The memory passes on ONNX Runtime's real training graphs (ORTModule exports).</summary>
public class OrtTrainingGraphTests
{
    [SkippableFact]
    public void RecomputeGeluGetsReGelu2AndItsInputLeavesBackward()
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile("ort-training/recompute_gelu.onnx"));
        string geluInput = model.Graph.Nodes.Single(n => n.Is("Gelu", "com.microsoft")).Inputs[0];
        PassResult result = MemoryPasses.Run(model, MemoryPasses.All);
        var counts = FusionConformanceTests.OpCounts(model);
        Assert.False(counts.ContainsKey("com.microsoft:GeluGrad"));
        Assert.Equal(1, counts["com.onnxmemopt:ReGelu2Grad"]);
        Assert.Equal(1, counts["com.onnxmemopt:ReGelu2"]);
        Assert.Equal(["regelu2", "leaf-order"], result.Rewrites.Select(r => r.Pass));
        Assert.Empty(TrainingPhases.Classify(model.Graph).BackwardReaders(geluInput));
    }

    [SkippableFact]
    public void BloomByDefaultRewritesItsGelusAndSkipsTrainableNormsWithTheReason()
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile("ort-training/3layer_bloom_optimized_training.onnx"));
        PassResult result = MemoryPasses.Run(model, MemoryPasses.All);
        var counts = FusionConformanceTests.OpCounts(model);
        Assert.False(counts.ContainsKey("com.microsoft:BiasFastGeluGrad_dX"));
        Assert.Equal(3, counts["com.onnxmemopt:ReGelu2Grad"]);
        Assert.Equal(8, counts["com.microsoft:LayerNormalizationGrad"]);
        var normSkips = result.Skipped.Where(s => s.Pass == "msln").ToList();
        Assert.Equal(8, normSkips.Count);
        Assert.All(normSkips, s => Assert.Contains("trainable", s.Reason, StringComparison.Ordinal));
    }

    [SkippableFact]
    public void BloomWithFoldTrainableAffineRewritesSevenNormsAndExplainsTheEmbeddingNorm()
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile("ort-training/3layer_bloom_optimized_training.onnx"));
        var normInputs = model.Graph.Nodes.Where(n => n.Is("LayerNormalization")).ToDictionary(n => n.Name, n => n.Inputs[0]);
        PassResult result = MemoryPasses.Run(model, MemoryPasses.All, options: new RewriteOptions { FoldTrainableAffine = true });
        var counts = FusionConformanceTests.OpCounts(model);
        Assert.Equal(7, counts["com.onnxmemopt:MsLayerNormGrad"]);
        Assert.Equal(1, counts["com.microsoft:LayerNormalizationGrad"]);
        Assert.Equal(7, result.Rewrites.Count(r => r.Pass == "msln"));
        Assert.All(result.Rewrites.Where(r => r.Pass == "msln"), r => Assert.Contains("reparameterised", r.Note!, StringComparison.Ordinal));
        SkipRecord embedding = Assert.Single(result.Skipped, s => s.Pass == "msln");
        Assert.Contains("word_embeddings_layernorm", embedding.Reason, StringComparison.Ordinal);
        Assert.Contains("Add", embedding.Reason, StringComparison.Ordinal);

        // Every rewritten norm's input is read by no backward node any more.
        var phases = TrainingPhases.Classify(model.Graph);
        foreach (RewriteRecord rewrite in result.Rewrites.Where(r => r.Pass == "msln"))
        {
            string original = rewrite.Node[..rewrite.Node.LastIndexOf('/')];
            Assert.Empty(phases.BackwardReaders(normInputs[original]));
        }
    }

    [SkippableTheory]
    [InlineData("ort-training/recompute_gelu.onnx")]
    [InlineData("ort-training/3layer_bloom_optimized_training.onnx")]
    public void RewritingTwiceEqualsRewritingOnce(string file)
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile(file));
        var options = new RewriteOptions { FoldTrainableAffine = true };
        Assert.NotEmpty(MemoryPasses.Run(model, MemoryPasses.All, options: options).Rewrites);
        byte[] once = model.ToBytes();
        Assert.Empty(MemoryPasses.Run(model, MemoryPasses.All, options: options).Rewrites);
        Assert.Equal(once, model.ToBytes());
    }
}
