using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Ordering;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// leaf-order on a three-layer MLP's training graph: the order ONNX Runtime actually runs (read
/// back from the optimized model it saves, which lists the nodes in its execution order, all
/// optimizations on as in training) computes the last layer's weight gradient first and the first
/// layer's last, so that each runs as soon as its inputs exist; the values stay the same and a
/// second run changes nothing.
/// </summary>
public class GradientLeafOrderTests(ITestOutputHelper output)
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    /// <summary>
    /// With [batch, tokens, features] activations each weight gradient is Reshape + Gemm. Measured
    /// on ONNX Runtime 1.31.1: unordered, it computes W1_grad, W2_grad, W3_grad, i.e. the whole
    /// input-gradient chain first, and every layer's dH waits for the end.
    /// </summary>
    [Fact]
    public void OnnxRuntimeRunsEachWeightGradientAsSoonAsItsInputsExist()
    {
        OnnxModel training = ThreeLayerMlp(batched: true);
        byte[] original = training.ToBytes();
        List<string> before = WeightGradientOrderInOnnxRuntime(original);
        output.WriteLine($"ONNX Runtime's order before: {string.Join(", ", before)}");
        Assert.Equal(["W1_grad", "W2_grad", "W3_grad"], before);

        PassResult result = MemoryPasses.Run(training, [GradientLeafOrder.Name]);
        RewriteRecord record = Assert.Single(result.Rewrites);
        output.WriteLine($"{record.Node}: {record.Note}");
        List<string> after = WeightGradientOrderInOnnxRuntime(training.ToBytes());
        output.WriteLine($"ONNX Runtime's order after: {string.Join(", ", after)}");
        Assert.Equal(["W3_grad", "W2_grad", "W1_grad"], after);

        // The same values, bit for bit: only the order changed.
        var feeds = ModelFeeds.Random(ModelProto.Parser.ParseFrom(original), seed: 2, intBound: _ => 4);
        var expected = ModelFeeds.Run(original, feeds);
        var actual = ModelFeeds.Run(training.ToBytes(), feeds);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        Assert.All(expected, e => Assert.Equal(e.Value, actual[e.Key]));
    }

    /// <summary>
    /// With 2-D activations each weight gradient is MatMul(Transpose(x), dY), which ONNX Runtime
    /// fuses into a new node; it already runs them as soon as they can (measured), and moving them
    /// made it worse, so the pass leaves them.
    /// </summary>
    [Fact]
    public void TransposedWeightGradientsAreLeftWhereTheyAre()
    {
        OnnxModel training = ThreeLayerMlp(batched: false);
        byte[] before = training.ToBytes();
        Assert.Empty(MemoryPasses.Run(training, [GradientLeafOrder.Name]).Rewrites);
        Assert.Equal(before, training.ToBytes());
        Assert.Equal(["W3_grad", "W2_grad", "W1_grad"], WeightGradientOrderInOnnxRuntime(before));
    }

    [Fact]
    public void OrderingTwiceEqualsOrderingOnce()
    {
        OnnxModel training = ThreeLayerMlp(batched: true);
        Assert.Single(MemoryPasses.Run(training, [GradientLeafOrder.Name]).Rewrites);
        byte[] once = training.ToBytes();
        Assert.Empty(MemoryPasses.Run(training, [GradientLeafOrder.Name]).Rewrites);
        Assert.Equal(once, training.ToBytes());
    }

    [Fact]
    public void ForwardGraphIsLeftAlone()
    {
        OnnxModel forward = OnnxModel.FromProto(ForwardMlp(batched: true));
        byte[] before = forward.ToBytes();
        Assert.Empty(MemoryPasses.Run(forward, [GradientLeafOrder.Name]).Rewrites);
        Assert.Equal(before, forward.ToBytes());
    }

    /// <summary>The graph outputs W1_grad, W2_grad, W3_grad in the order ONNX Runtime (all optimizations) computes them.</summary>
    private static List<string> WeightGradientOrderInOnnxRuntime(byte[] model) =>
        OrtOptimizedModel.Of(model).Graph.Node.SelectMany(n => n.Output).Where(o => o is "W1_grad" or "W2_grad" or "W3_grad").ToList();

    /// <summary>x [2, 4, 16] (or [8, 16]) → MatMul W1 → Relu → MatMul W2 → Relu → MatMul W3 → logits [.., 4].</summary>
    private static ModelProto ForwardMlp(bool batched)
    {
        long?[] rows = batched ? [2, 4] : [8];
        var random = new Random(9);
        float[] Weights(int n, int fanIn) => Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() - 0.5) * 2 / Math.Sqrt(fanIn))).ToArray();
        return new TinyModel()
            .Input("x", F, [.. rows, 16])
            .Initializer(FloatTensor("W1", [16, 32], Weights(16 * 32, 16)))
            .Initializer(FloatTensor("W2", [32, 32], Weights(32 * 32, 32)))
            .Initializer(FloatTensor("W3", [32, 4], Weights(32 * 4, 32)))
            .Node("MatMul", ["x", "W1"], ["h1"])
            .Node("Relu", ["h1"], ["a1"])
            .Node("MatMul", ["a1", "W2"], ["h2"])
            .Node("Relu", ["h2"], ["a2"])
            .Node("MatMul", ["a2", "W3"], ["logits"])
            .Output("logits", F, [.. rows, 4])
            .Build();
    }

    private static OnnxModel ThreeLayerMlp(bool batched) =>
        TrainingGraphBuilder.Build(OnnxModel.FromProto(ForwardMlp(batched)), new TrainingGraphOptions
        {
            Trainable = TrainableSet.Full,
            Parameters = ["W1", "W2", "W3"],
            Fusion = null,
        });
}
