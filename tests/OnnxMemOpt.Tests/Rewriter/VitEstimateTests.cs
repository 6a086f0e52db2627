using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// The memory estimate on a ViT-shaped training graph built by the project (fixtures ViT → fuse →
/// train-graph with LoRA on q and v → rewrite): saved activations fall, and the bytes the rewrite
/// removes are, tensor by tensor, the GELU inputs minus their codes plus the norm inputs (and
/// their mean statistics) no longer kept.
/// </summary>
public class VitEstimateTests(ITestOutputHelper output)
{
    public static TheoryData<int, int, int, int, int, double> Shapes() => new()
    {
        // blocks, hidden, heads, mlp, tokens, required after/before ratio
        { 2, 32, 4, 128, 17, 0.80 },
        // The acceptance shape: 12 blocks, D 768, MLP 3072, 197 tokens (batch 64 below).
        { 12, 768, 12, 3072, 197, 0.70 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RewriteRemovesGeluInputsMinusCodesPlusNormInputs(int blocks, int hidden, int heads, int mlp, int tokens, double ratio)
    {
        var options = new VitOptions { Blocks = blocks, Hidden = hidden, Heads = heads, Mlp = mlp, Tokens = tokens, PatchDim = 48, Batch = 64 };
        OnnxModel forward = OnnxModel.FromProto(VitModel.Build(options));
        OnnxModel training = TrainingGraphBuilder.Build(forward, new TrainingGraphOptions
        {
            Trainable = TrainableSet.Lora,
            LoraRank = 4,
            LoraTargets = @"attn\.(q|v)\.",
        });
        MemoryEstimate before = MemoryEstimate.Of(training);
        var result = MemoryPasses.Run(training, MemoryPasses.All);
        MemoryEstimate after = MemoryEstimate.Of(training);
        foreach (var group in result.Rewrites.GroupBy(r => r.Pass)) output.WriteLine($"{group.Key}: {group.Count()}");
        foreach (var skip in result.Skipped.Take(5)) output.WriteLine($"skip {skip.Pass} {skip.Node}: {skip.Reason}");
        foreach (var (kind, bytes) in before.ByKind) output.WriteLine($"before {kind}: {bytes:N0}");
        foreach (var (kind, bytes) in after.ByKind) output.WriteLine($"after {kind}: {bytes:N0}");
        foreach (var s in after.Saved.OrderByDescending(s => s.Bytes).Take(12)) output.WriteLine($"after saved {s.Name} {s.Kind} {s.Bytes:N0}");
        Assert.NotNull(before.SavedActivationBytes);
        Assert.NotNull(after.SavedActivationBytes);
        double measured = (double)after.SavedActivationBytes!.Value / before.SavedActivationBytes!.Value;
        output.WriteLine($"saved activations {before.SavedActivationBytes:N0} -> {after.SavedActivationBytes:N0} (ratio {measured:F3}); peak {before.PeakBytes:N0} -> {after.PeakBytes:N0}");

        Assert.Equal(blocks, result.Rewrites.Count(r => r.Pass == "regelu2"));
        Assert.True(measured <= ratio, $"ratio {measured:F3}");

        // Tensor by tensor: what left the saved set minus what joined it equals the passes' own accounting.
        var beforeSet = before.Saved.ToDictionary(s => s.Name);
        var afterSet = after.Saved.ToDictionary(s => s.Name);
        long removed = beforeSet.Values.Where(s => !afterSet.ContainsKey(s.Name)).Sum(s => s.Bytes!.Value);
        long added = afterSet.Values.Where(s => !beforeSet.ContainsKey(s.Name)).Sum(s => s.Bytes!.Value);
        long reported = result.Rewrites.Sum(r => r.SavedBytes ?? 0);
        output.WriteLine($"removed {removed:N0}, added {added:N0}, passes report {reported:N0}");
        Assert.Equal(reported, removed - added);
    }
}
