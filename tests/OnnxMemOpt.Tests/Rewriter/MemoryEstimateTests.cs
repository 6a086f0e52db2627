using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Rewriter.TrainingGraphs;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>The saved-activation estimate before and after the memory passes, tensor by tensor.</summary>
public class MemoryEstimateTests(ITestOutputHelper output)
{
    private const long Float = 4;

    [Fact]
    public void SavedActivationsOfTheHandBuiltGraphAreWhatItsBackwardReads()
    {
        OnnxModel model = OnnxModel.FromProto(Build(Norm.LayerNorm, Activation.Gelu, trainableAffine: false));
        MemoryEstimate estimate = MemoryEstimate.Of(model);
        var saved = estimate.Saved.ToDictionary(s => s.Name);
        // LayerNormalizationGrad reads X, mean, inv_std; W1's gradient reads Y; GeluGrad reads H; W2's gradient reads A.
        Assert.Equal(["A", "H", "X", "Y", "inv_std", "mean"], saved.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(ActivationKind.GeluSiluInput, saved["H"].Kind);
        Assert.Equal(ActivationKind.NormInput, saved["mean"].Kind);
        Assert.Equal(ActivationKind.LinearInput, saved["Y"].Kind);
        Assert.Equal(Rows * Hidden * Float, saved["H"].Bytes);
        Assert.Equal((Rows * Width * 2 + Rows * Hidden * 2 + Rows * 2) * Float, estimate.SavedActivationBytes);
    }

    [Fact]
    public void RemovedBytesAreTheGeluInputsMinusCodesPlusTheNormInputsNoLongerKept()
    {
        OnnxModel model = OnnxModel.FromProto(Build(Norm.LayerNorm, Activation.Gelu, trainableAffine: false));
        MemoryEstimate before = MemoryEstimate.Of(model);
        MemoryPasses.Run(model, MemoryPasses.All);
        MemoryEstimate after = MemoryEstimate.Of(model);
        foreach (SavedTensor s in after.Saved) output.WriteLine($"after: {s.Name} {s.Kind} {s.Bytes}");
        output.WriteLine($"saved activations {before.SavedActivationBytes} -> {after.SavedActivationBytes}, peak {before.PeakBytes} -> {after.PeakBytes}");

        var removed = before.Saved.Select(s => s.Name).Except(after.Saved.Select(s => s.Name)).Order(StringComparer.Ordinal).ToList();
        var added = after.Saved.Select(s => s.Name).Except(before.Saved.Select(s => s.Name)).ToList();
        // X (norm input), mean, H (GELU input) and Y (now ẑ, shared by the norm's gradient and W1's) leave.
        Assert.Equal(["H", "X", "Y", "mean"], removed);
        Assert.Equal(2, added.Count);
        long code = (Rows * Hidden + 3) / 4;
        long expectedRemoved = Rows * Width * Float + Rows * Float + Rows * Hidden * Float - code;
        Assert.Equal(expectedRemoved, before.SavedActivationBytes - after.SavedActivationBytes);
    }

    [SkippableFact]
    public void BloomEstimateWithBoundDimsFallsAfterTheRewrite()
    {
        string path = Support.SharedTestData.RequireFile("ort-training/3layer_bloom_optimized_training.onnx");
        OnnxModel model = OnnxModel.Load(path);
        var dims = DimBindings.Parse(["inputs_input_ids_dim0=2", "inputs_attention_mask_dim0=2", "inputs_attention_mask_dim1=16", "inputs_labels_dim0=2", "inputs_labels_dim1=16"]);
        MemoryEstimate before = MemoryEstimate.Of(model, dims);
        var result = MemoryPasses.Run(model, MemoryPasses.All, dims, new Patterns.RewriteOptions { FoldTrainableAffine = true });
        MemoryEstimate after = MemoryEstimate.Of(model, dims);
        output.WriteLine($"bloom saved {before.SavedActivationBytes} (unknown {before.UnknownSizes}) -> {after.SavedActivationBytes} (unknown {after.UnknownSizes})");
        foreach (var (kind, bytes) in before.ByKind) output.WriteLine($"before {kind}: {bytes}");
        foreach (var (kind, bytes) in after.ByKind) output.WriteLine($"after {kind}: {bytes}");
        foreach (var r in result.Rewrites) output.WriteLine($"{r.Pass} {r.Node} saved {r.SavedBytes}");
        Assert.True(before.ByKind.GetValueOrDefault(ActivationKind.GeluSiluInput) > after.ByKind.GetValueOrDefault(ActivationKind.GeluSiluInput));
    }
}
