using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training.Forms;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Corpus;
using OnnxMemOpt.Tests.Rewriter;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>
/// The exporter forms rewritten before differentiation (<see cref="TrainingForms"/>) compute what
/// they replace, and the checks that compare runs hold training-mode Dropout masks fixed.
/// </summary>
public sealed class TrainingFormsTests
{
    private static PassResult RunForms(OnnxModel model) => TrainingForms.Run(model, null);

    private static void AssertSameOutputs(ModelProto original, OnnxModel rewritten)
    {
        var feeds = ModelFeeds.Random(original, seed: 5);
        var expected = ModelFeeds.Run(Google.Protobuf.MessageExtensions.ToByteArray(original), feeds);
        var actual = ModelFeeds.Run(rewritten.ToBytes(), feeds);
        foreach (var (name, values) in expected)
        {
            Assert.InRange(ModelFeeds.MaxRelativeDifference(values, actual[name]), 0, 1e-5);
        }
    }

    [Fact]
    public void PatchEmbeddingConvBecomesItsMatMul()
    {
        var random = new Random(3);
        double[] Values(int n) => Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
        ModelProto original = new TinyModel()
            .Input("pixels", TensorProto.Types.DataType.Float, null, 3, 8, 12)
            .Output("patches", TensorProto.Types.DataType.Float, null, 6, 2, 3)
            .Initializer(TensorData.Create("w", ElementTypes.Float, [6, 3, 4, 4], Values(6 * 3 * 16)))
            .Initializer(TensorData.Create("b", ElementTypes.Float, [6], Values(6)))
            .Node("Conv", ["pixels", "w", "b"], ["patches"], "", TinyModel.Attr("kernel_shape", [4L, 4]), TinyModel.Attr("strides", [4L, 4]))
            .Build();
        OnnxModel model = OnnxModel.FromProto(original.Clone());
        PassResult result = RunForms(model);
        Assert.Single(result.Rewrites, r => r.Rule == "patch-conv");
        Assert.DoesNotContain(model.Graph.Nodes, n => n.Is("Conv"));
        AssertSameOutputs(original, model);
    }

    [Fact]
    public void OverlappingConvIsLeftWithTheReason()
    {
        ModelProto original = new TinyModel()
            .Input("pixels", TensorProto.Types.DataType.Float, null, 3, 8, 8)
            .Output("features", TensorProto.Types.DataType.Float)
            .Initializer(TensorData.Create("w", ElementTypes.Float, [2, 3, 3, 3], new double[54]))
            .Node("Conv", ["pixels", "w"], ["features"], "", TinyModel.Attr("strides", [1L, 1]))
            .Build();
        PassResult result = RunForms(OnnxModel.FromProto(original));
        Assert.Contains("overlap", Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void FlattenedGemmBecomesAMatMulOnTheTokens()
    {
        var random = new Random(4);
        double[] Values(int n) => Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
        // GPT-2's Conv1D: addmm(b, x.view(-1, 8), W).view(batch, seq, 12), the sizes read at run time.
        ModelProto original = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, null, null, 8)
            .Output("y", TensorProto.Types.DataType.Float, null, null, 12)
            .Initializer(TensorData.Create("W", ElementTypes.Float, [8, 12], Values(96)))
            .Initializer(TensorData.Create("b", ElementTypes.Float, [12], Values(12)))
            .Initializer(TinyModel.Int64Tensor("flat", [2], [-1, 8]))
            .Initializer(TinyModel.Int64Tensor("lead", [1], [0]))
            .Initializer(TinyModel.Int64Tensor("lead_end", [1], [2]))
            .Initializer(TinyModel.Int64Tensor("width", [1], [12]))
            .Node("Shape", ["x"], ["shape"])
            .Node("Slice", ["shape", "lead", "lead_end"], ["leading"])
            .Node("Concat", ["leading", "width"], ["target"], "", TinyModel.Attr("axis", 0L))
            .Node("Reshape", ["x", "flat"], ["rows"])
            .Node("Gemm", ["rows", "W", "b"], ["rows_out"])
            .Node("Reshape", ["rows_out", "target"], ["y"])
            .Build();
        OnnxModel model = OnnxModel.FromProto(original.Clone());
        PassResult result = RunForms(model);
        Assert.Single(result.Rewrites, r => r.Rule == "flattened-gemm");
        Assert.DoesNotContain(model.Graph.Nodes, n => n.Is("Gemm"));
        Assert.Contains(model.Graph.Nodes, n => n.Is("MatMul") && n.Inputs[0] == "x");
        AssertSameOutputs(original, model);
    }

    /// <summary>Two runs of one training-mode graph differ by their Dropout masks alone unless verify holds them fixed.</summary>
    [Fact]
    public void VerifyOfATrainingModeGraphAgainstItselfIsExact()
    {
        using var temp = new TempDirectory();
        string forward = Path.Combine(ConformanceMatrix.CorpusDirectory, "bert-opset17-train-fp32.onnx");
        string training = temp.File("train.onnx");
        Assert.Equal(0, CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "lora").ExitCode);
        var verify = CliRunner.Run("verify", training, training, "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        JsonNode report = JsonNode.Parse(verify.Stdout)!;
        Assert.Equal(0, report["forward_max_rel_diff"]!.GetValue<double>());
        Assert.All(report["gradients"]!.AsArray(), g => Assert.Equal(0, g!["rel_err"]!.GetValue<double>()));

        var check = CliRunner.Run("gradcheck", training, "--params", "6", "--json");
        Assert.True(check.ExitCode == 0, check.Stderr);
        Assert.InRange(JsonNode.Parse(check.Stdout)!["max_rel_err"]!.GetValue<double>(), 0, 1e-4);
    }
}
