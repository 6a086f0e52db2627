using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using Snapshooter.Xunit;
using Xunit;

namespace SnapshotTest;

/// <summary>
/// A user's guard on their build step: the rewritten training graph of their model, in OnnxMemOpt's
/// canonical text form, must equal the reviewed snapshot in __snapshots__ (Snapshooter writes the
/// actual text to __snapshots__/__mismatch__ when it differs; delete the snapshot to accept a change).
/// </summary>
public class RewrittenGraphTests
{
    [Fact]
    public void RewrittenLoraTrainingGraphIsUnchanged()
    {
        OnnxModel forward = OnnxModel.Load(Path.Combine(AppContext.BaseDirectory, "vit-tiny.onnx"));
        OnnxModel training = TrainingGraphBuilder.Build(forward, new TrainingGraphOptions { Trainable = TrainableSet.Lora, LoraRank = 4 });
        PassResult result = MemoryPasses.Run(training, MemoryPasses.All);

        Assert.Contains(result.Rewrites, r => r.Pass == "regelu2");
        Assert.Contains(result.Rewrites, r => r.Pass == "msln");
        Snapshot.Match(ModelText.Of(training));
    }
}
