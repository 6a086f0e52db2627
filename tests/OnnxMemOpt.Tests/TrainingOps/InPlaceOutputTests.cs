using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// The training ops whose output may take an input's buffer (the loss's log_prob over the scores,
/// the loss gradient's d_logits over log_prob, the softmax gradients' dX over dY), run
/// by ONNX Runtime in graphs where its planner does write them in place: each value is an
/// intermediate with a static shape whose last reader is that op. The results must match float64
/// references, and the CPU arena's measured peak must show one [R, C] buffer where separate
/// buffers would need two (and equal the memory model's replay of the same graph).
/// </summary>
public class InPlaceOutputTests(ITestOutputHelper output)
{
    private const int Rows = 64;
    private const int Classes = 4096;  // one [R, C] float tensor: 1 MiB
    private const long TensorBytes = (long)Rows * Classes * sizeof(float);

    [Fact]
    public void LossAndItsGradientWrittenOverTheirInputsMatchFloat64()
    {
        var random = new Random(21);
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, Rows * Classes, -4, 4));
        long[] labels = Enumerable.Range(0, Rows).Select(_ => (long)random.Next(Classes)).ToArray();
        const double upstream = 0.75;

        // scores = -x is an intermediate only the loss reads, log_prob one only the gradient reads;
        // the row sums of d_logits^2 leave the graph, so d_logits is an intermediate as well.
        var model = new TinyModel()
            .Input("x", DataType.Float, Rows, Classes)
            .Input("labels", DataType.Int64, Rows)
            .Input("dy", DataType.Float)
            .Node("Neg", ["x"], ["scores"])
            .Node("SoftmaxCrossEntropyLossInternal", ["scores", "labels"], ["loss", "log_prob"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "mean"))
            .Node("SoftmaxCrossEntropyLossInternalGrad", ["dy", "log_prob", "labels"], ["d_logits"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "mean"))
            .Node("ReduceSumSquare", ["d_logits"], ["row_sq"], "", TinyModel.Attr("axes", new long[] { 1 }), TinyModel.Attr("keepdims", 0L))
            .Output("loss", DataType.Float)
            .Output("row_sq", DataType.Float, Rows);

        var (outputs, measured) = RunTwice(model, [
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x.Select(v => (float)v).ToArray(), [Rows, Classes])),
            NamedOnnxValue.CreateFromTensor("labels", new DenseTensor<long>(labels, [Rows])),
            NamedOnnxValue.CreateFromTensor("dy", new DenseTensor<float>(new[] { (float)upstream }, [])),
        ]);

        double[] scores = x.Select(v => -v).ToArray();
        var (loss, logProb) = ReferenceMath.SoftmaxCrossEntropy(scores, [Rows, Classes], labels, null, null, "mean");
        double[] rowSq = new double[Rows];
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Classes; c++)
            {
                double d = (Math.Exp(logProb[r * Classes + c]) - (c == labels[r] ? 1 : 0)) * upstream / Rows;
                rowSq[r] += d * d;
            }
        }
        GradCheck.AssertClose(outputs["loss"], loss, 1e-6, "loss");
        GradCheck.AssertClose(outputs["row_sq"], rowSq, 5e-5, "row sums of d_logits^2");  // float sums of 4096 squares
        AssertOneTensorLive(model, measured);
    }

    [Fact]
    public void LossWrittenOverTheScoresGivesTheFullGradient()
    {
        // Here d_logits is a graph output (the caller's buffer, never in place), so every element
        // of the gradient computed from the log_prob that overwrote the scores is compared.
        var random = new Random(22);
        const int rows = 6, classes = 7;
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, rows * classes, -3, 3));
        long[] labels = Enumerable.Range(0, rows).Select(_ => (long)random.Next(classes)).ToArray();
        double[] weights = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, classes, 0.5, 2));
        var model = new TinyModel()
            .Input("x", DataType.Float, rows, classes)
            .Input("labels", DataType.Int64, rows)
            .Input("w", DataType.Float, classes)
            .Input("dy", DataType.Float, rows)
            .Node("Neg", ["x"], ["scores"])
            .Node("SoftmaxCrossEntropyLossInternal", ["scores", "labels", "w"], ["loss", "log_prob"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "none"))
            .Node("SoftmaxCrossEntropyLossGrad", ["dy", "log_prob", "labels", "w"], ["d_logits"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "none"))
            .Output("loss", DataType.Float, rows)
            .Output("d_logits", DataType.Float, rows, classes);
        double[] dy = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, rows, 0.5, 1.5));

        var (outputs, _) = RunTwice(model, [
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x.Select(v => (float)v).ToArray(), [rows, classes])),
            NamedOnnxValue.CreateFromTensor("labels", new DenseTensor<long>(labels, [rows])),
            NamedOnnxValue.CreateFromTensor("w", new DenseTensor<float>(weights.Select(v => (float)v).ToArray(), [classes])),
            NamedOnnxValue.CreateFromTensor("dy", new DenseTensor<float>(dy.Select(v => (float)v).ToArray(), [rows])),
        ]);

        double[] scores = x.Select(v => -v).ToArray();
        var (loss, _) = ReferenceMath.SoftmaxCrossEntropy(scores, [rows, classes], labels, weights, null, "none");
        double[] gradient = GradCheck.Gradient(v => ReferenceMath.SoftmaxCrossEntropy(v, [rows, classes], labels, weights, null, "none").Loss, scores, dy);
        GradCheck.AssertClose(outputs["loss"], loss, 1e-6, "loss per sample");
        GradCheck.AssertClose(outputs["d_logits"], gradient, 2e-5, "d_logits");
    }

    [Fact]
    public void SoftmaxGradientsWrittenOverDyMatchFloat64()
    {
        // a = -x, b = SoftmaxGrad_13(a, y) over a, c = LogSoftmaxGrad_13(b, z) over b: one [R, C]
        // buffer for all three (y a softmax output, z = log y a log-softmax output).
        var random = new Random(23);
        double[] x = GradCheck.Quantize(DataType.Float, GradCheck.Uniform(random, Rows * Classes, -3, 3));
        double[] y = GradCheck.Quantize(DataType.Float,
            ReferenceMath.Softmax(GradCheck.Uniform(random, Rows * Classes, -2, 2), [Rows, Classes], -1, singleAxis: true, log: false));
        double[] z = GradCheck.Quantize(DataType.Float, y.Select(v => Math.Log(v)).ToArray());
        var model = new TinyModel()
            .Input("x", DataType.Float, Rows, Classes)
            .Input("y", DataType.Float, Rows, Classes)
            .Input("z", DataType.Float, Rows, Classes)
            .Node("Neg", ["x"], ["a"])
            .Node("SoftmaxGrad_13", ["a", "y"], ["b"], OpHarness.Microsoft, TinyModel.Attr("axis", -1L))
            .Node("LogSoftmaxGrad_13", ["b", "z"], ["c"], OpHarness.Microsoft, TinyModel.Attr("axis", -1L))
            .Node("ReduceSumSquare", ["c"], ["row_sq"], "", TinyModel.Attr("axes", new long[] { 1 }), TinyModel.Attr("keepdims", 0L))
            .Output("row_sq", DataType.Float, Rows);

        var (outputs, measured) = RunTwice(model, [
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x.Select(v => (float)v).ToArray(), [Rows, Classes])),
            NamedOnnxValue.CreateFromTensor("y", new DenseTensor<float>(y.Select(v => (float)v).ToArray(), [Rows, Classes])),
            NamedOnnxValue.CreateFromTensor("z", new DenseTensor<float>(z.Select(v => (float)v).ToArray(), [Rows, Classes])),
        ]);

        double[] rowSq = new double[Rows];
        for (int r = 0; r < Rows; r++)
        {
            var b = new double[Classes];
            double dot = 0, sum = 0;
            for (int k = 0; k < Classes; k++)
            {
                dot += -x[r * Classes + k] * y[r * Classes + k];
            }
            for (int k = 0; k < Classes; k++)
            {
                b[k] = y[r * Classes + k] * (-x[r * Classes + k] - dot);  // dX = Y (dY - sum(dY Y))
                sum += b[k];
            }
            for (int k = 0; k < Classes; k++)
            {
                double c = b[k] - Math.Exp(z[r * Classes + k]) * sum;  // dX = dY - exp(Y) sum(dY)
                rowSq[r] += c * c;
            }
        }
        GradCheck.AssertClose(outputs["row_sq"], rowSq, 5e-5, "row sums of LogSoftmaxGrad_13(SoftmaxGrad_13(-x, y), log y)^2");
        AssertOneTensorLive(model, measured);
    }

    [Fact]
    public void OutputShapesAreInferredForTheDeclaredOutputs()
    {
        // Symbolic batch: the runtime propagates the symbol; "none" gives the loss the labels' shape.
        var model = new TinyModel()
            .Input("scores", DataType.Float, null, 5)
            .Input("labels", DataType.Int64, [null])
            .Input("dy", DataType.Float, [null])
            .Input("x", DataType.Float, 3, 4)
            .OutputUnshaped("loss", DataType.Float)
            .OutputUnshaped("log_prob", DataType.Float)
            .OutputUnshaped("d_logits", DataType.Float)
            .OutputUnshaped("ds", DataType.Float)
            .OutputUnshaped("dx", DataType.Float)
            .Node("SoftmaxCrossEntropyLossInternal", ["scores", "labels"], ["loss", "log_prob"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "none"))
            .Node("SoftmaxCrossEntropyLossInternalGrad", ["dy", "log_prob", "labels"], ["d_logits"], OpHarness.Microsoft,
                TinyModel.Attr("reduction", "none"))
            .Node("LogSoftmaxGrad", ["x", "x"], ["ds"], OpHarness.Microsoft)
            .Node("FastGeluGrad", ["x", "x"], ["dx"], OpHarness.Microsoft);
        using InferenceSession session = OrtRunner.CreateSession(model.ToBytes());
        var metadata = session.OutputMetadata;
        Assert.Equal([-1], metadata["loss"].Dimensions);
        Assert.Equal("d0", metadata["loss"].SymbolicDimensions[0]);
        Assert.Equal([-1, 5], metadata["log_prob"].Dimensions);
        Assert.Equal("d0", metadata["log_prob"].SymbolicDimensions[0]);
        Assert.Equal([-1, 5], metadata["d_logits"].Dimensions);
        Assert.Equal([3, 4], metadata["ds"].Dimensions);
        // The pointwise gradients declare no inference (see MakePointwiseGradOp): rank unknown.
        Assert.Empty(metadata["dx"].Dimensions);
    }

    public static TheoryData<string> OpsForTheShapeMirror() =>
    [
        "SoftmaxCrossEntropyLossInternal", "SoftmaxCrossEntropyLossGrad", "SoftmaxCrossEntropyLossInternalGrad",
        "SoftmaxGrad", "SoftmaxGrad_13", "LogSoftmaxGrad", "LogSoftmaxGrad_13", "GeluGrad", "BiasGeluGrad_dX", "ReluGrad",
    ];

    /// <summary>
    /// The memory model's list of the library's shape inference (LibraryTrainingOps, read through
    /// RuntimeStaticShapes) against what ONNX Runtime infers with the library loaded: an output is
    /// static for one exactly when it is for the other.
    /// </summary>
    [Theory]
    [MemberData(nameof(OpsForTheShapeMirror))]
    public void TheMemoryModelKnowsTheShapesTheRuntimeInfers(string op)
    {
        const int n = 3, c = 4;
        var model = new TinyModel();
        string[] outputs;
        var none = TinyModel.Attr("reduction", "none");
        switch (op)
        {
            case "SoftmaxCrossEntropyLossInternal":
                model.Input("scores", DataType.Float, n, c).Input("labels", DataType.Int64, n)
                    .Node(op, ["scores", "labels"], outputs = ["loss", "log_prob"], OpHarness.Microsoft, none);
                break;
            case "SoftmaxCrossEntropyLossGrad" or "SoftmaxCrossEntropyLossInternalGrad":
                model.Input("dy", DataType.Float, n).Input("log_prob", DataType.Float, n, c).Input("labels", DataType.Int64, n)
                    .Node(op, ["dy", "log_prob", "labels"], outputs = ["d_logits"], OpHarness.Microsoft, none);
                break;
            case "BiasGeluGrad_dX":
                model.Input("dy", DataType.Float, n, c).Input("x", DataType.Float, n, c).Input("b", DataType.Float, c)
                    .Node(op, ["dy", "x", "b"], outputs = ["dx"], OpHarness.Microsoft);
                break;
            default:
                model.Input("dy", DataType.Float, n, c).Input("x", DataType.Float, n, c)
                    .Node(op, ["dy", "x"], outputs = ["dx"], OpHarness.Microsoft);
                break;
        }
        foreach (string name in outputs)
        {
            model.OutputUnshaped(name, DataType.Float);
        }
        using InferenceSession session = OrtRunner.CreateSession(model.ToBytes());

        var graph = OnnxModel.FromProto(model.Build()).Graph;
        RuntimeGraph runtimeGraph = RuntimeGraph.Of(graph, OnnxMemOpt.Graph.Shapes.ShapeInference.Infer(graph));
        IReadOnlySet<string> known = RuntimeStaticShapes.Of(runtimeGraph, RuntimeExecutionOrder.Of(runtimeGraph));
        foreach (string name in outputs)
        {
            bool runtimeKnows = session.OutputMetadata[name].Dimensions.Length > 0;
            Assert.True(runtimeKnows == known.Contains(name), $"{op} output {name}: runtime infers {runtimeKnows}, memory model {known.Contains(name)}");
        }
    }

    /// <summary>Runs twice on a fresh session as the bench does (memory pattern off, two intra-op threads).</summary>
    private static (Dictionary<string, double[]> Outputs, long MaxInUse) RunTwice(TinyModel model, NamedOnnxValue[] feeds)
    {
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        options.IntraOpNumThreads = 2;
        options.EnableMemoryPattern = false;
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        using var session = new InferenceSession(model.ToBytes(), options);
        using (session.Run(feeds))
        {
        }
        using var results = session.Run(feeds);
        var outputs = results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray().Select(v => (double)v).ToArray());
        return (outputs, PeakMemory.Read(session).MaxInUse);
    }

    private void AssertOneTensorLive(TinyModel model, long measured)
    {
        long estimate = RuntimeArenaEstimate.PeakBytes(OnnxModel.FromProto(model.Build()), NodeOrderSource.AsLoaded)!.Value;
        output.WriteLine($"arena MaxInUse {measured:N0} B, memory model {estimate:N0} B, one [R, C] tensor {TensorBytes:N0} B");
        Assert.True(measured >= TensorBytes, $"MaxInUse {measured:N0} B holds less than one [R, C] tensor");
        Assert.True(measured < TensorBytes * 3 / 2, $"MaxInUse {measured:N0} B: the outputs did not take their inputs' buffer");
        // The model replays bound graph outputs (the bench binds them); here the runtime allocates
        // the small outputs from the arena too, a 256-byte chunk each.
        Assert.InRange(measured - estimate, 0, 2 * 256);
    }
}
