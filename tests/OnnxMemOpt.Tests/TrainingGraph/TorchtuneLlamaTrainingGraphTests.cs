using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// torchtune's LLaMA-2 export (decomposed RMSNorm, SiLU as Sigmoid·Mul, rotary embeddings, causal
/// Trilu mask) with next-token cross-entropy and LoRA on q and v. Its weights are external files
/// that ../shared does not carry, so the run part gives every external tensor deterministic
/// random values first (the graph's structure is what is under test).
/// </summary>
public sealed class TorchtuneLlamaTrainingGraphTests
{
    private const string ModelPath = "forward/torchtune_llama2_forward.onnx";

    /// <summary>Random stand-in weights beyond this many elements would take gigabytes: that part is skipped.</summary>
    private const long MaxRandomElements = 50_000_000;

    private static readonly TrainingGraphOptions Options = new()
    {
        Loss = LossKind.CrossEntropy,
        Trainable = TrainableSet.Lora,
        LoraTargets = "q_proj|v_proj",
    };

    [SkippableFact]
    public void LoraOnQAndVBuildsWithFusedGradientOps()
    {
        OnnxModel forward = OnnxModel.Load(SharedTestData.RequireFile(ModelPath));
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, Options);
        var nodes = result.Model.Graph.Nodes;

        int layers = forward.Proto.Graph.Node.Count(n => n.OpType == "Sigmoid");
        Assert.Equal(2 * layers, result.Adapters.Count);
        Assert.Empty(result.ParametersWithoutGradient);
        // Fusion ran first: RMSNorm chains became SimplifiedLayerNormalization, SiLU became QuickGelu(alpha=1).
        Assert.DoesNotContain(nodes, n => n.OpType == "Sigmoid");
        Assert.Contains(nodes, n => n.OpType == "SimplifiedLayerNormalizationGrad");
        var quickGeluGrads = nodes.Where(n => n.OpType == "QuickGeluGrad").ToList();
        Assert.Equal(layers, quickGeluGrads.Count);
        Assert.All(quickGeluGrads, n => Assert.Equal(1.0f, n.GetFloat("alpha", float.NaN)));
        Assert.Contains(nodes, n => n.OpType == "SoftmaxCrossEntropyLossInternalGrad");
        // The labels are next-token ids shaped like the logits without their vocabulary axis.
        Assert.Contains(result.Model.Graph.InputNames, i => i == "labels");
    }

    [SkippableFact]
    public void WithRandomWeightsTheLoraGradientsMatchFiniteDifferences()
    {
        string path = SharedTestData.RequireFile(ModelPath);
        ModelProto proto = OnnxModel.Load(path).Proto.Clone();
        long externalElements = proto.Graph.Initializer.Where(TensorData.IsExternal).Sum(t => TensorData.ElementCount(t));
        Skip.If(externalElements > MaxRandomElements,
            $"the export's {externalElements:N0} external weight elements are absent from ../shared; random stand-ins that large do not fit a unit test (the build is checked by the other test)");
        int filled = FillExternalTensors(proto, seed: 5);
        Assert.True(filled > 0, "expected external weights to replace");
        OnnxModel forward = OnnxModel.FromProto(proto, "torchtune_llama2_forward (random weights)");
        OnnxModel training = TrainingGraphBuilder.Build(forward, Options);

        using var checker = new GradientChecker(training, seed: 3, randomizeZeroParameters: 0.05, float64: true);
        GradientCheckResult result = checker.Check(checker.Sample(4, p => p.Contains(".lora_", StringComparison.Ordinal)));
        RuleGradCheck.AssertWithin(result, 1e-3);
    }

    /// <summary>Gives every external tensor deterministic values (N(0, 0.02)-like uniform, norm scales 1) held in raw_data.</summary>
    private static int FillExternalTensors(ModelProto proto, int seed)
    {
        var random = new Random(seed);
        int filled = 0;
        for (int i = 0; i < proto.Graph.Initializer.Count; i++)
        {
            TensorProto tensor = proto.Graph.Initializer[i];
            if (!TensorData.IsExternal(tensor)) continue;
            long count = TensorData.ElementCount(tensor);
            bool normScale = tensor.Name.Contains("norm", StringComparison.Ordinal) && tensor.Dims.Count == 1;
            var values = new double[count];
            for (long k = 0; k < count; k++) values[k] = normScale ? 1.0 : (random.NextDouble() * 2 - 1) * 0.05;
            proto.Graph.Initializer[i] = TensorData.Create(tensor.Name, tensor.DataType, [.. tensor.Dims], values);
            filled++;
        }
        return filled;
    }
}
