using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Support.TinyModel;
using Comparison = OnnxMemOpt.Runtime.Verification.GradientComparison;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// MS-LN / MS-RMSNorm with frozen γ, β on a post-LN block built by the project's training-graph
/// builder: the norm output feeds frozen linear layers (MatMul with and without a bias Add; Gemm
/// with transB, alpha, beta and C), a trainable linear layer and the residual Add. The frozen
/// layers take γ, β folded into new weights and read ẑ; the trainable layer and the residual read
/// the explicit γ⊙ẑ+β; the trainable layer's weight gradient reads ẑ. Checked on ONNX Runtime
/// against the unrewritten graph: loss within 1e-5 relative, every gradient within 1e-4.
/// </summary>
public class MsNormFoldTests(ITestOutputHelper output)
{
    private const int Rows = 8;
    private const int Width = 16;
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    public enum Layout { Batched3D, Rows2D }

    public static TheoryData<bool, Layout> Cases() => new()
    {
        { true, Layout.Batched3D },
        { true, Layout.Rows2D },
        { false, Layout.Batched3D },
        { false, Layout.Rows2D },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FrozenAffineFoldsIntoFrozenLinearLayersAndGradientsStayExact(bool layerNorm, Layout layout)
    {
        OnnxModel training = Training(layerNorm, layout);
        byte[] original = training.ToBytes();
        PassResult result = MemoryPasses.Run(training, [layerNorm ? "msln" : "msrms"]);
        foreach (var s in result.Skipped) output.WriteLine($"skip {s.Node}: {s.Reason}");
        RewriteRecord rewrite = Assert.Single(result.Rewrites);
        output.WriteLine(rewrite.Note);

        // The frozen layers read ẑ through new weights; the old ones are gone. β·Wq joins the
        // bias added two Adds further on; where no bias follows, an Add applies β·W.
        var graph = training.Graph;
        Assert.Equal(layerNorm, graph.Initializer("bq_folded") is not null);
        Assert.Equal(layerNorm ? (layout == Layout.Rows2D ? 0 : 1) : 0, graph.Nodes.Count(n => n.Name.EndsWith("/AffineShift", StringComparison.Ordinal)));
        string[] frozen = layout == Layout.Rows2D ? ["Wq", "Wg", "Wh"] : ["Wq", "Wv"];
        Assert.All(frozen, w => Assert.Null(graph.Initializer(w)));
        Assert.Contains("folded into", rewrite.Note, StringComparison.Ordinal);
        Assert.All(frozen, w => Assert.Contains($"'{w}'", rewrite.Note, StringComparison.Ordinal));
        // The trainable layer and the residual Add still read the explicit γ⊙ẑ+β …
        Assert.Contains("explicit for", rewrite.Note, StringComparison.Ordinal);
        var phases = TrainingPhases.Classify(graph);
        var forwardReaders = graph.Consumers("y").Where(n => !phases.IsBackward(n)).Select(n => n.OpType).OrderBy(o => o).ToList();
        Assert.Equal(["Add", "MatMul"], forwardReaders);
        // … and nothing in backward keeps y, nor the norm's input.
        Assert.Empty(phases.BackwardReaders("y"));
        Assert.Empty(phases.BackwardReaders("h0"));
        // dẑ = (the other readers' terms)⊙γ + one term per folded layer, straight from its input
        // gradient, which reads the folded weight.
        var normGradient = graph.Nodes.Single(n => n.OpType is "MsLayerNormGrad" or "MsRmsNormGrad");
        var dZ = graph.Producer(normGradient.Inputs[0])!;
        Assert.Equal("Sum", dZ.OpType);
        Assert.Equal(1 + frozen.Length, dZ.Inputs.Count);
        Assert.Equal("Mul", graph.Producer(dZ.Inputs[0])!.OpType);
        Assert.All(frozen, w => Assert.Contains(graph.Consumers($"{w}_folded"), phases.IsBackward));

        AssertSameLossAndGradients(original, training.ToBytes());
    }

    [Fact]
    public void RewritingTwiceEqualsRewritingOnce()
    {
        OnnxModel training = Training(layerNorm: true, Layout.Rows2D);
        Assert.Single(MemoryPasses.Run(training, MemoryPasses.All).Rewrites, r => r.Pass == "msln");
        byte[] once = training.ToBytes();
        PassResult second = MemoryPasses.Run(training, MemoryPasses.All);
        Assert.Empty(second.Rewrites);
        Assert.Equal(once, training.ToBytes());
    }

    [Fact]
    public void TrainableAffineIsReparameterisedNotFolded()
    {
        OnnxModel training = Training(layerNorm: true, Layout.Batched3D, trainableAffine: true);
        byte[] original = training.ToBytes();
        Assert.Empty(MemoryPasses.Run(OnnxModel.FromProto(training.Proto.Clone()), ["msln"]).Rewrites);
        PassResult result = MemoryPasses.Run(training, ["msln"], options: new RewriteOptions { FoldTrainableAffine = true });
        RewriteRecord rewrite = Assert.Single(result.Rewrites);
        output.WriteLine(rewrite.Note);
        Assert.Contains("--fold-trainable-affine", rewrite.Note, StringComparison.Ordinal);
        Assert.Contains("no fold", rewrite.Note, StringComparison.Ordinal);
        // The frozen weights are left as they were; γ⊙ẑ+β feeds every reader.
        Assert.NotNull(training.Graph.Initializer("Wq"));
        Assert.Empty(TrainingPhases.Classify(training.Graph).BackwardReaders("y"));
        AssertSameLossAndGradients(original, training.ToBytes());
    }

    private void AssertSameLossAndGradients(byte[] original, byte[] rewritten)
    {
        var feeds = ModelFeeds.Random(ModelProto.Parser.ParseFrom(original), seed: 3, intBound: _ => Width);
        var expected = ModelFeeds.Run(original, feeds);
        var actual = ModelFeeds.Run(rewritten, feeds);
        double loss = ModelFeeds.MaxRelativeDifference(expected["loss"], actual["loss"]);
        output.WriteLine($"loss {expected["loss"][0]:G6}, relative difference {loss:E2}");
        Assert.True(loss <= 1e-5, $"loss differs by {loss:E3}");
        foreach (string name in expected.Keys.Where(k => k.EndsWith("_grad", StringComparison.Ordinal)))
        {
            double relative = Comparison.RelativeError(expected[name], actual[name]);
            output.WriteLine($"{name}: relative error {relative:E2}");
            Assert.True(expected[name].Any(v => v != 0), $"{name} is zero: the test would prove nothing");
            Assert.True(relative <= 1e-4, $"{name}: relative error {relative:E3}");
        }
    }

    /// <summary>
    /// x → MatMul(W_in) → h0 → norm(γ, β) → y, then y feeds a trainable t = MatMul(y, Wt),
    /// q = (MatMul(y, Wq) + t) + bq (as a LoRA-adapted layer with its bias), the residual, and (3-D) v = MatMul(y, Wv) or (2-D) g = Gemm(y, Wgᵀ, C)
    /// and h = Gemm(y, Wh); out = q⊙v (or q⊙g + h) + t + y, cross-entropy over the last axis. W_in and Wt train.
    /// </summary>
    private static OnnxModel Training(bool layerNorm, Layout layout, bool trainableAffine = false)
    {
        var random = new Random(17);
        float[] Values(int n, double center, double spread) => Enumerable.Range(0, n).Select(_ => (float)(center + spread * (random.NextDouble() - 0.5))).ToArray();
        float[] Weights(int n) => Values(n, 0, 2.0 / Math.Sqrt(Width));
        long[] shape = layout == Layout.Rows2D ? [Rows, Width] : [2, Rows / 2, Width];
        var model = new TinyModel()
            .Input("x", F, shape.Select(d => (long?)d).ToArray())
            .Initializer(FloatTensor("W_in", [Width, Width], Weights(Width * Width)))
            .Initializer(FloatTensor("gamma", [Width], Values(Width, 1.0, 1.0)))
            .Initializer(FloatTensor("Wq", [Width, Width], Weights(Width * Width)))
            .Initializer(FloatTensor("bq", [Width], Values(Width, 0, 1)))
            .Initializer(FloatTensor("Wt", [Width, Width], Weights(Width * Width)));
        if (layerNorm) model.Initializer(FloatTensor("beta", [Width], Values(Width, 0, 1)));
        model.Node("MatMul", ["x", "W_in"], ["h0"]);
        if (layerNorm)
        {
            model.Node("LayerNormalization", ["h0", "gamma", "beta"], ["y"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f));
        }
        else
        {
            model.Node("SimplifiedLayerNormalization", ["h0", "gamma"], ["y"], "", Attr("axis", -1L), Attr("epsilon", 1e-5f));
        }
        model.Node("MatMul", ["y", "Wq"], ["q0"]);
        model.Node("MatMul", ["y", "Wt"], ["t"]);
        model.Node("Add", ["q0", "t"], ["q1"]);
        model.Node("Add", ["bq", "q1"], ["q"]);
        if (layout == Layout.Rows2D)
        {
            model.Initializer(FloatTensor("Wg", [Width, Width], Weights(Width * Width)))
                .Initializer(FloatTensor("C", [Width], Values(Width, 0, 1)))
                .Initializer(FloatTensor("Wh", [Width, Width], Weights(Width * Width)));
            model.Node("Gemm", ["y", "Wg", "C"], ["g"], "", Attr("transB", 1L), Attr("alpha", 0.5f), Attr("beta", 2f));
            model.Node("Gemm", ["y", "Wh"], ["h"]);
            model.Node("Mul", ["q", "g"], ["qg"]);
            model.Node("Add", ["qg", "h"], ["mixed"]);
        }
        else
        {
            model.Initializer(FloatTensor("Wv", [Width, Width], Weights(Width * Width)));
            model.Node("MatMul", ["y", "Wv"], ["v"]);
            model.Node("Mul", ["q", "v"], ["mixed"]);
        }
        model.Node("Add", ["mixed", "t"], ["branch"]);
        model.Node("Add", ["branch", "y"], ["out"]);
        model.Output("out", F, shape.Select(d => (long?)d).ToArray());

        string[] parameters = trainableAffine ? ["W_in", "Wt", "gamma", .. layerNorm ? new[] { "beta" } : []] : ["W_in", "Wt"];
        return TrainingGraphBuilder.Build(OnnxModel.FromProto(model.Build()), new TrainingGraphOptions
        {
            Trainable = TrainableSet.Full,
            Parameters = parameters,
            // Cross-entropy: its gradient op marks where backward starts for the phase split.
            Loss = LossKind.CrossEntropy,
            Fusion = null,
        });
    }
}
