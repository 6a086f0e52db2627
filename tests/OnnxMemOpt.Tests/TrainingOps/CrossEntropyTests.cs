using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// SoftmaxCrossEntropyLossInternal against ONNX Runtime's own SoftmaxCrossEntropyLoss (opset 13)
/// and a float64 reference; SoftmaxCrossEntropyLossGrad and SoftmaxCrossEntropyLossInternalGrad
/// against central differences of the float64 loss, for every reduction, with and without class
/// weights and an ignored label, on [N, C] and [N, C, d1, d2] scores.
/// </summary>
public class CrossEntropyTests
{
    public static TheoryData<string, bool, bool, int> Cases()
    {
        var data = new TheoryData<string, bool, bool, int>();
        foreach (string reduction in new[] { "mean", "sum", "none" })
        {
            foreach (bool weighted in new[] { false, true })
            {
                foreach (bool ignore in new[] { false, true })
                {
                    data.Add(reduction, weighted, ignore, 2);
                }
            }
            data.Add(reduction, true, true, 4);
        }
        return data;
    }

    private sealed record Problem(long[] Shape, long[] LabelShape, double[] Scores, long[] Labels, double[]? Weights, long? Ignore);

    private static Problem Make(int rank, bool weighted, bool ignore, int seed)
    {
        var random = new Random(seed);
        long[] shape = rank == 2 ? [6, 5] : [3, 5, 2, 3];
        long[] labelShape = [shape[0], .. shape.Skip(2)];
        long samples = GradCheck.Count(labelShape);
        double[] scores = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)GradCheck.Count(shape), -3, 3));
        long[] labels = Enumerable.Range(0, (int)samples).Select(_ => (long)random.Next(0, (int)shape[1])).ToArray();
        long? ignoreIndex = ignore ? labels[1] : null;  // a label that occurs, so some samples drop out
        double[]? weights = weighted ? GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, (int)shape[1], 0.2, 2)) : null;
        return new Problem(shape, labelShape, scores, labels, weights, ignoreIndex);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InternalForwardMatchesOnnxRuntimeLoss(string reduction, bool weighted, bool ignore, int rank)
    {
        Problem p = Make(rank, weighted, ignore, 100 + rank);
        foreach (DataType labelType in new[] { DataType.Int64, DataType.Int32 })
        {
            var inputs = new List<Feed> { Feed.Float("scores", p.Shape, p.Scores), new("labels", labelType, p.LabelShape, p.Labels) };
            inputs.Add(p.Weights is null ? Feed.Absent : Feed.Float("weights", [p.Shape[1]], p.Weights));
            if (p.Ignore is { } ignoreIndex)
            {
                inputs.Add(Feed.Int64("ignore", [], [ignoreIndex]));
            }
            var ours = OpHarness.Run("SoftmaxCrossEntropyLossInternal", inputs, [("loss", DataType.Float), ("log_prob", DataType.Float)],
                OpHarness.Microsoft, 17, TinyModel.Attr("reduction", reduction));

            var stockInputs = inputs.Take(3).ToList();
            if (p.Weights is null)
            {
                stockInputs.RemoveAt(2);
            }
            var attributes = new List<OnnxMemOpt.Onnx.Proto.AttributeProto> { TinyModel.Attr("reduction", reduction) };
            if (p.Ignore is { } stockIgnore)
            {
                attributes.Add(TinyModel.Attr("ignore_index", stockIgnore));
            }
            var stock = OpHarness.Run("SoftmaxCrossEntropyLoss", stockInputs, [("loss", DataType.Float), ("log_prob", DataType.Float)],
                "", 13, [.. attributes]);
            var (loss, logProb) = ReferenceMath.SoftmaxCrossEntropy(p.Scores, p.Shape, p.Labels, p.Weights, p.Ignore, reduction);

            Assert.Equal(stock["loss"].Shape, ours["loss"].Shape);
            Assert.Equal(p.Shape, ours["log_prob"].Shape);
            GradCheck.AssertClose(ours["loss"].Values, stock["loss"].Values, 1e-5, "loss vs ONNX Runtime");
            GradCheck.AssertClose(ours["log_prob"].Values, stock["log_prob"].Values, 1e-5, "log_prob vs ONNX Runtime");
            GradCheck.AssertClose(ours["loss"].Values, loss, 1e-6, "loss vs float64");
            GradCheck.AssertClose(ours["log_prob"].Values, logProb, 1e-6, "log_prob vs float64");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchFiniteDifferences(string reduction, bool weighted, bool ignore, int rank)
    {
        Problem p = Make(rank, weighted, ignore, 200 + rank);
        var random = new Random(9);
        var (loss, logProb) = ReferenceMath.SoftmaxCrossEntropy(p.Scores, p.Shape, p.Labels, p.Weights, p.Ignore, reduction);
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, loss.Length, 0.5, 1.5));
        long[] dyShape = reduction == "none" ? p.LabelShape : [];
        double[] expected = GradCheck.Gradient(
            v => ReferenceMath.SoftmaxCrossEntropy(v, p.Shape, p.Labels, p.Weights, p.Ignore, reduction).Loss, p.Scores, dy);
        double[] logProbFeed = GradCheck.Quantize(DataType.Float, logProb);
        Feed weightFeed = p.Weights is null ? Feed.Absent : Feed.Float("w", [p.Shape[1]], p.Weights);

        // SoftmaxCrossEntropyLossGrad: ignore_index is an attribute.
        var attributes = new List<OnnxMemOpt.Onnx.Proto.AttributeProto> { TinyModel.Attr("reduction", reduction) };
        if (p.Ignore is { } ignoreIndex)
        {
            attributes.Add(TinyModel.Attr("ignore_index", ignoreIndex));
        }
        var gradInputs = new List<Feed> { Feed.Float("dy", dyShape, dy), Feed.Float("lp", p.Shape, logProbFeed), Feed.Int64("labels", p.LabelShape, p.Labels) };
        if (p.Weights is not null)
        {
            gradInputs.Add(weightFeed);
        }
        Fetched grad = OpHarness.RunSingle("SoftmaxCrossEntropyLossGrad", gradInputs, DataType.Float, OpHarness.Microsoft, [.. attributes]);
        Assert.Equal(p.Shape, grad.Shape);
        GradCheck.AssertClose(grad.Values, expected, 2e-5, "SoftmaxCrossEntropyLossGrad");

        // SoftmaxCrossEntropyLossInternalGrad: ignore_index is an input, and a bias is added.
        double[] bias = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, expected.Length));
        var internalInputs = new List<Feed>
        {
            Feed.Float("dy", dyShape, dy), Feed.Float("lp", p.Shape, logProbFeed), new("labels", DataType.Int32, p.LabelShape, p.Labels),
            weightFeed, p.Ignore is { } ig ? Feed.Int64("ignore", [], [ig]) : Feed.Absent, Feed.Float("bias", p.Shape, bias),
        };
        Fetched internalGrad = OpHarness.RunSingle("SoftmaxCrossEntropyLossInternalGrad", internalInputs, DataType.Float,
            OpHarness.Microsoft, TinyModel.Attr("reduction", reduction));
        GradCheck.AssertClose(internalGrad.Values, expected.Select((e, i) => e + bias[i]).ToArray(), 2e-5, "SoftmaxCrossEntropyLossInternalGrad");
    }

    [Theory]
    [InlineData(DataType.Double)]
    [InlineData(DataType.Float16)]
    [InlineData(DataType.Bfloat16)]
    public void OtherFloatTypesMatchFiniteDifferences(DataType type)
    {
        Problem p = Make(2, weighted: true, ignore: false, 300);
        double[] scores = GradCheck.Quantize(type, p.Scores);
        double[]? weights = GradCheck.Quantize(type, p.Weights!);
        var forward = OpHarness.Run("SoftmaxCrossEntropyLossInternal",
            [Feed.Of("s", type, p.Shape, scores), Feed.Int64("l", p.LabelShape, p.Labels), Feed.Of("w", type, [p.Shape[1]], weights)],
            [("loss", type), ("log_prob", type)]);
        var (loss, logProb) = ReferenceMath.SoftmaxCrossEntropy(scores, p.Shape, p.Labels, weights, null, "mean");
        GradCheck.AssertClose(forward["loss"].Values, loss, GradCheck.Tolerance(type), "loss");
        GradCheck.AssertClose(forward["log_prob"].Values, logProb, GradCheck.Tolerance(type), "log_prob");

        Fetched grad = OpHarness.RunSingle("SoftmaxCrossEntropyLossGrad",
            [Feed.Of("dy", type, [], [1.0]), Feed.Of("lp", type, p.Shape, GradCheck.Quantize(type, logProb)), Feed.Int64("l", p.LabelShape, p.Labels),
             Feed.Of("w", type, [p.Shape[1]], weights)], type);
        double[] expected = GradCheck.Gradient(v => ReferenceMath.SoftmaxCrossEntropy(v, p.Shape, p.Labels, weights, null, "mean").Loss, scores, [1.0]);
        GradCheck.AssertClose(grad.Values, expected, GradCheck.Tolerance(type) * 2, $"grad {type}");
    }

    [Fact]
    public void OutputTypeEqualToTheInputTypeIsAcceptedAndAnyOtherRefused()
    {
        // ORTModule exports carry output_type (the 3-layer BLOOM graph: float16 scores, output_type 10).
        Problem p = Make(2, weighted: false, ignore: false, 400);
        Feed[] inputs = [Feed.Of("s", DataType.Float16, p.Shape, GradCheck.Quantize(DataType.Float16, p.Scores)), Feed.Int64("l", p.LabelShape, p.Labels)];
        var same = OpHarness.Run("SoftmaxCrossEntropyLossInternal", inputs, [("loss", DataType.Float16), ("lp", DataType.Float16)],
            OpHarness.Microsoft, 17, TinyModel.Attr("output_type", (long)DataType.Float16));
        var (loss, _) = ReferenceMath.SoftmaxCrossEntropy(GradCheck.Quantize(DataType.Float16, p.Scores), p.Shape, p.Labels, null, null, "mean");
        GradCheck.AssertClose(same["loss"].Values, loss, GradCheck.Tolerance(DataType.Float16), "loss");

        var error = Assert.ThrowsAny<Exception>(() => OpHarness.Run("SoftmaxCrossEntropyLossInternal", inputs,
            [("loss", DataType.Float16), ("lp", DataType.Float16)], OpHarness.Microsoft, 17, TinyModel.Attr("output_type", (long)DataType.Float)));
        Assert.Contains("output_type", error.Message, StringComparison.Ordinal);
    }
}
