using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// End to end on ONNX Runtime's own on-device training artifacts: the unmodified
/// training_model.onnx runs on stock ONNX Runtime with the library (ReluGrad,
/// SoftmaxCrossEntropyLossGrad, Scale, InPlaceAccumulatorV2, ...), its loss equals the
/// eval_model.onnx loss computed by stock kernels alone, the gradients it accumulates into the fed
/// buffers match central differences of that eval loss, and a second step without lazy reset
/// accumulates (buffer = 2 x gradient). Parameters are random: the checkpoint reader is the
/// runtime's business, not the kernels'.
/// </summary>
public class TrainingArtifactGradientTests(ITestOutputHelper output)
{
    private sealed record Artifact(string Folder, Func<Random, NamedOnnxValue[]> UserInputs, float ParameterScale, float Step);

    private static readonly Dictionary<string, Artifact> Artifacts = new()
    {
        ["mlp-artifacts"] = new("mlp-artifacts", random =>
        [
            NamedOnnxValue.CreateFromTensor("input-0", new DenseTensor<float>(RandomFloats(random, 2 * 784, 0, 1), [2, 784])),
            NamedOnnxValue.CreateFromTensor("labels", new DenseTensor<int>(new[] { 1, 7 }, [2])),
        ], 0.05f, 1e-2f),
        ["lora-mlp"] = new("lora-mlp", random =>
        [
            NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(RandomFloats(random, 3 * 10, -1, 1), [3, 10])),
            NamedOnnxValue.CreateFromTensor("target", new DenseTensor<float>(RandomFloats(random, 3 * 2, -1, 1), [3, 2])),
        ], 0.5f, 1e-3f),
    };

    [SkippableTheory]
    [InlineData("mlp-artifacts", false)]
    [InlineData("lora-mlp", false)]
    [InlineData("mlp-artifacts", true)]
    [InlineData("lora-mlp", true)]
    public void AccumulatedGradientsMatchFiniteDifferencesOfTheEvalLoss(string folder, bool optimized)
    {
        Artifact artifact = Artifacts[folder];
        string trainingPath = SharedTestData.RequireFile(Path.Combine("ort-training", folder, "training_model.onnx"));
        string evalPath = SharedTestData.RequireFile(Path.Combine("ort-training", folder, "eval_model.onnx"));
        var training = ModelProto.Parser.ParseFrom(File.ReadAllBytes(trainingPath));
        var random = new Random(17);

        // Parameters are the inputs that have an accumulation buffer.
        const string BufferSuffix = "_grad.accumulation.buffer";
        var buffers = training.Graph.Input.Where(i => i.Name.EndsWith(BufferSuffix, StringComparison.Ordinal)).ToList();
        var parameters = new Dictionary<string, DenseTensor<float>>();
        var gradients = new Dictionary<string, DenseTensor<float>>();
        foreach (ValueInfoProto buffer in buffers)
        {
            string name = buffer.Name[..^BufferSuffix.Length];
            int[] dims = buffer.Type.TensorType.Shape.Dim.Select(d => checked((int)d.DimValue)).ToArray();
            int count = dims.Aggregate(1, (a, b) => a * b);
            parameters[name] = new DenseTensor<float>(RandomFloats(random, count, -artifact.ParameterScale, artifact.ParameterScale), dims);
            gradients[name] = new DenseTensor<float>(new float[count], dims);
        }
        Assert.NotEmpty(parameters);
        NamedOnnxValue[] userInputs = artifact.UserInputs(random);

        // Also with ONNX Runtime's full graph optimizations, which a trainer would normally enable.
        using InferenceSession trainer = optimized ? CreateOptimizedSession(trainingPath) : OrtRunner.CreateSession(File.ReadAllBytes(trainingPath));
        using InferenceSession evaluator = OrtRunner.CreateSession(File.ReadAllBytes(evalPath), registerLibrary: false);
        string lossName = training.Graph.Output[0].Name;

        float TrainStep(bool lazyReset)
        {
            var feeds = userInputs.ToList();
            feeds.AddRange(parameters.Select(p => NamedOnnxValue.CreateFromTensor(p.Key, p.Value)));
            feeds.AddRange(gradients.Select(g => NamedOnnxValue.CreateFromTensor(g.Key + BufferSuffix, g.Value)));
            feeds.Add(NamedOnnxValue.CreateFromTensor("lazy_reset_grad", new DenseTensor<bool>(new[] { lazyReset }, [1])));
            using var results = trainer.Run(feeds);
            return results.Single(r => r.Name == lossName).AsTensor<float>().Single();
        }

        float EvalLoss()
        {
            var feeds = userInputs.Concat(parameters.Select(p => NamedOnnxValue.CreateFromTensor(p.Key, p.Value))).ToList();
            using var results = evaluator.Run(feeds, [lossName]);
            return results.Single().AsTensor<float>().Single();
        }

        float loss = TrainStep(lazyReset: true);
        float evalLoss = EvalLoss();
        Assert.True(Math.Abs(loss - evalLoss) <= 1e-5 * Math.Abs(evalLoss), $"training loss {loss} vs eval loss {evalLoss}");

        foreach (var (name, parameter) in parameters)
        {
            float[] values = parameter.Buffer.Span.ToArray();
            float[] grad = gradients[name].ToArray();
            float scale = grad.Max(Math.Abs);
            Assert.True(scale > 0, $"{name}: gradient is all zero");
            var span = parameter.Buffer.Span;
            double worst = 0;
            foreach (int index in Enumerable.Range(0, 12).Select(_ => random.Next(values.Length)).Distinct())
            {
                span[index] = values[index] + artifact.Step;
                float plus = EvalLoss();
                span[index] = values[index] - artifact.Step;
                float minus = EvalLoss();
                span[index] = values[index];
                double finiteDifference = (plus - minus) / (2.0 * artifact.Step);
                // float32 evaluation: the difference quotient carries ~eps*|loss|/step of noise.
                double tolerance = 0.005 * scale + 4 * 1.2e-7 * Math.Abs(evalLoss) / artifact.Step;
                worst = Math.Max(worst, Math.Abs(finiteDifference - grad[index]) / scale);
                Assert.True(Math.Abs(finiteDifference - grad[index]) <= tolerance,
                    $"{name}[{index}]: accumulated {grad[index]:E4}, finite difference {finiteDifference:E4}");
            }
            output.WriteLine($"{folder} {name}: max |finite difference - gradient| / max |gradient| = {worst:E2}");
        }

        // Without the lazy reset the next step adds the same gradient on top.
        var first = gradients.ToDictionary(g => g.Key, g => g.Value.ToArray());
        TrainStep(lazyReset: false);
        foreach (var (name, tensor) in gradients)
        {
            GradCheck.AssertClose(tensor.ToArray().Select(v => (double)v).ToArray(), first[name].Select(v => 2.0 * v).ToArray(), 1e-6, $"{name} accumulated twice");
        }
    }

    private static InferenceSession CreateOptimizedSession(string path)
    {
        using var options = OnnxMemOpt.CustomOps.CustomOpLibrary.CreateSessionOptions();
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
        options.IntraOpNumThreads = 2;
        return new InferenceSession(path, options);
    }

    private static float[] RandomFloats(Random random, int count, float lo, float hi) =>
        Enumerable.Range(0, count).Select(_ => lo + (hi - lo) * (float)random.NextDouble()).ToArray();
}
