using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// Kernels split large tensors over the session's intra-op thread pool in chunks whose number
/// depends only on the tensor size, so 1 and 4 threads must give bit-identical results (the
/// reductions in LayerNormalizationGrad and the loss included), and both must still be right.
/// </summary>
public class ParallelExecutionTests
{
    private static void AssertSameOnOneAndFourThreads(string op, IReadOnlyList<Feed> inputs, (string, DataType)[] outputs, params OnnxMemOpt.Onnx.Proto.AttributeProto[] attributes)
    {
        var single = OpHarness.RunWithThreads(1, op, inputs, outputs, OpHarness.Microsoft, 17, attributes);
        var parallel = OpHarness.RunWithThreads(4, op, inputs, outputs, OpHarness.Microsoft, 17, attributes);
        foreach (var (name, _) in outputs)
        {
            Assert.Equal(single[name].Shape, parallel[name].Shape);
            Assert.Equal(single[name].Values, parallel[name].Values);
        }
    }

    [Fact]
    public void GeluGradIsThreadCountIndependentAndCorrect()
    {
        var random = new Random(1);
        long[] shape = [64, 2048];
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 64 * 2048, -4, 4));
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, x.Length));
        Feed[] inputs = [Feed.Float("dy", shape, dy), Feed.Float("x", shape, x)];
        AssertSameOnOneAndFourThreads("GeluGrad", inputs, [("dx", DataType.Float)]);

        var dx = OpHarness.RunWithThreads(4, "GeluGrad", inputs, [("dx", DataType.Float)], OpHarness.Microsoft, 17)["dx"];
        // Spot-check against the analytic derivative in float64: Phi(x) + x phi(x).
        for (int i = 0; i < x.Length; i += 997)
        {
            double expected = dy[i] * (0.5 * (1 + ReferenceMath.Erf(x[i] / Math.Sqrt(2))) + x[i] * Math.Exp(-0.5 * x[i] * x[i]) / Math.Sqrt(2 * Math.PI));
            Assert.True(Math.Abs(dx.Values[i] - expected) <= 1e-5, $"dx[{i}] = {dx.Values[i]}, expected {expected}");
        }
    }

    [Fact]
    public void LayerNormalizationGradIsThreadCountIndependent()
    {
        var random = new Random(2);
        long[] shape = [512, 384];
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 512 * 384, -2, 2));
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, x.Length));
        double[] scale = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, 384, 0.5, 1.5));
        var (_, mean, inv) = ReferenceMath.LayerNorm(x, shape, -1, scale, null, 1e-5);
        AssertSameOnOneAndFourThreads("LayerNormalizationGrad",
            [Feed.Float("dy", shape, dy), Feed.Float("x", shape, x), Feed.Float("s", [384], scale), Feed.Float("m", [512, 1], mean), Feed.Float("i", [512, 1], inv)],
            [("dx", DataType.Float), ("ds", DataType.Float), ("db", DataType.Float)]);
    }

    [Fact]
    public void SoftmaxAndCrossEntropyGradsAreThreadCountIndependent()
    {
        var random = new Random(3);
        long[] shape = [256, 1000];
        double[] x = GradCheck.Uniform(random, 256 * 1000, -3, 3);
        double[] y = GradCheck.Quantize(DataType.Float, ReferenceMath.Softmax(x, shape, -1, singleAxis: true, log: false));
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, x.Length));
        AssertSameOnOneAndFourThreads("SoftmaxGrad_13", [Feed.Float("dy", shape, dy), Feed.Float("y", shape, y)], [("dx", DataType.Float)]);

        double[] logProb = GradCheck.Quantize(DataType.Float, ReferenceMath.Softmax(x, shape, -1, singleAxis: true, log: true));
        long[] labels = Enumerable.Range(0, 256).Select(_ => (long)random.Next(1000)).ToArray();
        AssertSameOnOneAndFourThreads("SoftmaxCrossEntropyLossInternal",
            [Feed.Float("s", shape, GradCheck.Quantize(DataType.Float, x)), Feed.Int64("l", [256], labels)],
            [("loss", DataType.Float), ("lp", DataType.Float)]);
        AssertSameOnOneAndFourThreads("SoftmaxCrossEntropyLossGrad",
            [Feed.Float("dy", [], [1.0]), Feed.Float("lp", shape, logProb), Feed.Int64("l", [256], labels)], [("dx", DataType.Float)]);
    }
}
