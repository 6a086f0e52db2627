using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Recompute;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// recompute on a SwiGLU MLP's training graph, out = (silu(x·W1) ⊙ x·W3)·W2 with SiLU written as
/// g·σ(g): the product P = silu ⊙ up, which W2's gradient reads, and silu = g ⊙ σ(g), which the
/// product's gradient reads, are both recomputed in backward from factors backward keeps anyway.
/// Checked: backward no longer reads them, the saved bytes fall by exactly their sizes, ONNX Runtime
/// computes the same values bit for bit (a product is commutative in IEEE arithmetic), its graph
/// optimisations keep the recomputations, and a product whose factors backward does not keep is
/// refused with the reason.
/// </summary>
public class ProductRecomputeTests(ITestOutputHelper output)
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;
    private const int Rows = 2 * 4;
    private const int Width = 16;
    private const int Hidden = 24;

    [Fact]
    public void ProductsAreRecomputedInBackwardWithTheSameValues()
    {
        OnnxModel training = SwiGluTrainingGraph(trainable: ["W1", "W2", "W3"]);
        byte[] original = training.ToBytes();
        MemoryEstimate before = MemoryEstimate.Of(training);

        PassResult result = MemoryPasses.Run(training, [ProductRecomputeRule.PassName]);
        foreach (RewriteRecord r in result.Rewrites) output.WriteLine($"{r.Node}: saved {r.SavedBytes} B, {r.Note}");
        foreach (SkipRecord s in result.Skipped) output.WriteLine($"skipped {s.Node}: {s.Reason}");
        Assert.Equal(2, result.Rewrites.Count);
        long productBytes = Rows * Hidden * sizeof(float);
        Assert.All(result.Rewrites, r => Assert.Equal(productBytes, r.SavedBytes));

        var phases = TrainingPhases.Classify(training.Graph);
        Assert.Empty(phases.BackwardReaders("product"));
        Assert.Empty(phases.BackwardReaders("silu"));
        var recomputations = training.Graph.Nodes.Where(TrainingPhases.IsRecomputation).ToList();
        Assert.Equal(2, recomputations.Count);
        Assert.All(recomputations, n => Assert.True(phases.IsBackward(n), $"{n.Label} should count as backward"));

        MemoryEstimate after = MemoryEstimate.Of(training);
        output.WriteLine($"saved activations {before.SavedActivationBytes} → {after.SavedActivationBytes} B");
        Assert.Equal(before.SavedActivationBytes - (2 * productBytes), after.SavedActivationBytes);

        var feeds = ModelFeeds.Random(ModelProto.Parser.ParseFrom(original), seed: 4, intBound: _ => 4);
        var expected = ModelFeeds.Run(original, feeds);
        var actual = ModelFeeds.Run(training.ToBytes(), feeds);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        Assert.All(expected, e => Assert.Equal(e.Value, actual[e.Key]));

        // ONNX Runtime's common-subexpression elimination must not merge a recomputation back into
        // the forward product: the factors are swapped so that the two nodes differ (with the
        // factors in the same order this check fails: both recomputations are gone).
        ModelProto optimized = OrtOptimizedModel.Of(training.ToBytes());
        foreach (NodeProto node in optimized.Graph.Node.Where(n => n.OpType is "Mul" or "QuickGelu"))
        {
            output.WriteLine($"optimized: {node.OpType} {node.Name} ({string.Join(", ", node.Input)}) -> {string.Join(", ", node.Output)}");
        }
        Assert.All(recomputations, r => Assert.Contains(optimized.Graph.Node, n => n.Output.SequenceEqual(r.Outputs)));
    }

    [Fact]
    public void RecomputingTwiceEqualsRecomputingOnce()
    {
        OnnxModel training = SwiGluTrainingGraph(trainable: ["W1", "W2", "W3"]);
        Assert.NotEmpty(MemoryPasses.Run(training, MemoryPasses.All).Rewrites);
        byte[] once = training.ToBytes();
        PassResult again = MemoryPasses.Run(training, MemoryPasses.All);
        Assert.Empty(again.Rewrites);
        Assert.Equal(once, training.ToBytes());
    }

    /// <summary>
    /// Only W2 trains: backward reads the product (for W2's gradient) but keeps neither factor, so
    /// recomputing it would keep both factors instead of one product.
    /// </summary>
    [Fact]
    public void ProductWhoseFactorsBackwardDoesNotKeepIsRefusedWithTheReason()
    {
        OnnxModel training = SwiGluTrainingGraph(trainable: ["W2"]);
        byte[] before = training.ToBytes();
        PassResult result = MemoryPasses.Run(training, [ProductRecomputeRule.PassName]);
        Assert.Empty(result.Rewrites);
        SkipRecord skip = Assert.Single(result.Skipped);
        output.WriteLine($"{skip.Node}: {skip.Reason}");
        Assert.Contains("backward does not keep", skip.Reason, StringComparison.Ordinal);
        Assert.Equal(before, training.ToBytes());
    }

    private static OnnxModel SwiGluTrainingGraph(string[] trainable)
    {
        var random = new Random(13);
        float[] Weights(int n, int fanIn) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() - 0.5) * 2 * Math.Sqrt(3.0 / fanIn))).ToArray();
        ModelProto forward = new TinyModel()
            .Input("x", F, 2, 4, Width)
            .Initializer(FloatTensor("W1", [Width, Hidden], Weights(Width * Hidden, Width)))
            .Initializer(FloatTensor("W3", [Width, Hidden], Weights(Width * Hidden, Width)))
            .Initializer(FloatTensor("W2", [Hidden, 4], Weights(Hidden * 4, Hidden)))
            .Node("MatMul", ["x", "W1"], ["g"])
            .Node("Sigmoid", ["g"], ["sigmoid"])
            .Node("Mul", ["g", "sigmoid"], ["silu"])
            .Node("MatMul", ["x", "W3"], ["up"])
            .Node("Mul", ["silu", "up"], ["product"])
            .Node("MatMul", ["product", "W2"], ["logits"])
            .Output("logits", F, 2, 4, 4)
            .Build();
        return TrainingGraphBuilder.Build(OnnxModel.FromProto(forward), new TrainingGraphOptions
        {
            Trainable = TrainableSet.Full,
            Parameters = trainable,
            Fusion = null,
        });
    }
}
