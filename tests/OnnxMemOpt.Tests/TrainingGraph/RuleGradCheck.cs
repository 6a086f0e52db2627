using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// Checks one gradient rule: a tiny forward model whose operands are initializers, trained in
/// full on exactly those operands with an MSE loss against a random target, built by
/// <see cref="TrainingGraphBuilder"/>, run on ONNX Runtime with the project's library, and
/// compared element by element with finite differences of the loss.
/// </summary>
internal static class RuleGradCheck
{
    public const TensorProto.Types.DataType F64 = TensorProto.Types.DataType.Double;
    public const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>Builds the training graph and returns the worst relative error over every element of every parameter (at most 40 per parameter).</summary>
    public static GradientCheckResult Run(TinyModel forward, string[] parameters, LossKind loss = LossKind.MeanSquaredError, Action<GradientChecker>? setUp = null) =>
        Run(forward.Build(), parameters, loss, setUp);

    /// <summary>As above for a model already built; <paramref name="expectOp"/> must appear in the training graph.</summary>
    public static GradientCheckResult Run(ModelProto forward, string[] parameters, LossKind loss = LossKind.MeanSquaredError, Action<GradientChecker>? setUp = null, string? expectOp = null)
    {
        OnnxModel model = OnnxModel.FromProto(forward, "rule-test");
        OnnxModel training = TrainingGraphBuilder.Build(model, new TrainingGraphOptions { Loss = loss, Trainable = TrainableSet.Full, Parameters = parameters });
        if (expectOp is not null) Assert.Contains(training.Graph.Nodes, n => n.OpType == expectOp);
        using var checker = new GradientChecker(training, seed: 7);
        setUp?.Invoke(checker);
        var elements = new List<(string, long)>();
        foreach (string p in parameters)
        {
            long count = TensorData.ElementCount(training.Graph.Initializer(p)!);
            for (long i = 0; i < Math.Min(count, 40); i++) elements.Add((p, i));
        }
        return checker.Check(elements);
    }

    /// <summary>
    /// Ends a float32 model in a Cast to float64 output, so the MSE loss is summed in float64: only
    /// the op's own rounding then limits the finite differences, not the loss's.
    /// </summary>
    public static TinyModel WithFloat64Output(this TinyModel model, string output) =>
        model.Node("Cast", [output], [output + "_f64"], "", TinyModel.Attr("to", (long)F64)).OutputUnshaped(output + "_f64", F64);

    /// <summary>Fails, naming the worst element, unless every relative error is within <paramref name="tolerance"/>.</summary>
    public static void AssertWithin(GradientCheckResult result, double tolerance)
    {
        Assert.True(result.Checked > 0, "no element was checked");
        GradientSample worst = result.Samples.MaxBy(s => s.RelErr)!;
        Assert.True(worst.RelErr <= tolerance,
            $"worst relative error {worst.RelErr:E3} > {tolerance:E1} at {worst.Parameter}[{worst.Index}]: graph {worst.Analytic:R}, finite differences {worst.Numeric:R} ({result.Checked} elements: {string.Join("; ", result.Samples.Select(s => $"{s.Parameter}[{s.Index}] {s.Analytic:E4}/{s.Numeric:E4}"))})");
    }

    /// <summary>A random initializer; <paramref name="min"/>..<paramref name="max"/> keeps values off kinks and poles.</summary>
    public static TensorProto Random(string name, long[] dims, int seed, TensorProto.Types.DataType type = F64, double min = -1, double max = 1)
    {
        var random = new Random(seed);
        long count = dims.Aggregate(1L, (a, b) => a * b);
        var values = new double[count];
        for (long i = 0; i < count; i++)
        {
            double v = min + (max - min) * random.NextDouble();
            // Keep symmetric ranges away from 0 so that kinks (Relu) are never within a step.
            if (min < 0 && max > 0 && Math.Abs(v) < 0.1) v = v < 0 ? v - 0.1 : v + 0.1;
            values[i] = v;
        }
        return TensorData.Create(name, (int)type, dims, values);
    }

    public static TensorProto Ints(string name, long[] dims, long[] values) => TensorData.CreateInt64(name, dims, values);
}
