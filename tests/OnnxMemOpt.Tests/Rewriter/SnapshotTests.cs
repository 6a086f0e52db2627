using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// Rewritten graphs in <see cref="ModelText"/> form against checked-in snapshots under
/// fixtures/snapshots: every checked-in fixture (built into a LoRA training graph, then rewritten),
/// every model of the exporter corpus, and ONNX Runtime's own training graphs from ../shared when
/// present. Set ONNXMEMOPT_UPDATE_SNAPSHOTS=1 to write them anew (then review the diff).
/// </summary>
public class SnapshotTests
{
    public static TheoryData<string> ForwardModels()
    {
        var data = new TheoryData<string>();
        foreach (string folder in new[] { "fixtures/models", "fixtures/exported" })
        {
            string full = Path.Combine(SharedTestData.RepoRoot, folder);
            if (!Directory.Exists(full)) continue;
            foreach (string file in Directory.EnumerateFiles(full, "*.onnx").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(SharedTestData.RepoRoot, file).Replace('\\', '/'));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ForwardModels))]
    public void RewrittenTrainingGraphOfForwardModelMatchesSnapshot(string relativePath)
    {
        OnnxModel forward = OnnxModel.Load(Path.Combine(SharedTestData.RepoRoot, relativePath));
        OnnxModel training = TrainingGraphBuilder.Build(forward, new TrainingGraphOptions { Trainable = TrainableSet.Lora });
        MemoryPasses.Run(training, MemoryPasses.All);
        string name = Path.GetFileNameWithoutExtension(relativePath);
        TextSnapshot.Match($"{Path.GetFileName(Path.GetDirectoryName(relativePath))}/{name}.lora.rewritten.txt", ModelText.Of(training));
    }

    [SkippableTheory]
    [InlineData("ort-training/recompute_gelu.onnx", false, "ort-training/recompute_gelu.rewritten.txt")]
    [InlineData("ort-training/3layer_bloom_optimized_training.onnx", false, "ort-training/bloom.rewritten.txt")]
    [InlineData("ort-training/3layer_bloom_optimized_training.onnx", true, "ort-training/bloom.rewritten.fold-trainable-affine.txt")]
    public void RewrittenOrtTrainingGraphMatchesSnapshot(string file, bool foldTrainableAffine, string snapshot)
    {
        OnnxModel model = OnnxModel.Load(SharedTestData.RequireFile(file));
        MemoryPasses.Run(model, MemoryPasses.All, options: new RewriteOptions { FoldTrainableAffine = foldTrainableAffine });
        TextSnapshot.Match(snapshot, ModelText.Of(model));
    }
}
