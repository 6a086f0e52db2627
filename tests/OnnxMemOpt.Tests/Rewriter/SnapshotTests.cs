using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// Rewritten ort-training graphs, in canonical text form, against checked-in snapshots under
/// Rewriter/Snapshots. Set ONNXMEMOPT_UPDATE_SNAPSHOTS=1 to write the snapshots anew (then review the diff).
/// </summary>
public class SnapshotTests
{
    [SkippableTheory]
    [InlineData("ort-training/recompute_gelu.onnx", false, "recompute_gelu.rewritten.txt")]
    [InlineData("ort-training/3layer_bloom_optimized_training.onnx", false, "bloom.rewritten.txt")]
    [InlineData("ort-training/3layer_bloom_optimized_training.onnx", true, "bloom.rewritten.fold-trainable-affine.txt")]
    public void RewrittenGraphMatchesSnapshot(string file, bool foldTrainableAffine, string snapshot)
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile(file));
        MemoryPasses.Run(model, MemoryPasses.All, options: new RewriteOptions { FoldTrainableAffine = foldTrainableAffine });
        string actual = GraphText.Of(model);
        string path = Path.Combine(SharedTestData.RepoRoot, "tests", "OnnxMemOpt.Tests", "Rewriter", "Snapshots", snapshot);
        if (Environment.GetEnvironmentVariable("ONNXMEMOPT_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"snapshot {snapshot} is missing; run with ONNXMEMOPT_UPDATE_SNAPSHOTS=1 to create it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
