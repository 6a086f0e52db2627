using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Runtime;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>
/// The commands that run models on ONNX Runtime (verify, gradcheck, bench, train) on models whose
/// weights are in external data: the runtime must find the data beside each model. Before, the
/// sessions were made from bytes and ONNX Runtime found no data at all.
/// </summary>
public class ExternalDataCommandTests(ITestOutputHelper output)
{
    /// <summary>
    /// An exporter-shaped MLP block, x[batch_size, seq_len, 16] → Linear → erf GELU (decomposed) →
    /// LayerNormalization → Linear → y[batch_size, seq_len, 4], with weights that ONNX Runtime must
    /// read from model.onnx.data.
    /// </summary>
    private static ModelProto Mlp()
    {
        var random = new Random(7);
        double[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => (random.NextDouble() * 2 - 1) * scale).ToArray();
        ModelProto proto = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, null, null, 16)
            .Output("y", TensorProto.Types.DataType.Float, null, null, 4)
            .Initializer(TensorData.Create("fc1.weight", ElementTypes.Float, [16, 32], Values(512, 0.25)))
            .Initializer(TensorData.Create("fc1.bias", ElementTypes.Float, [32], Values(32, 0.1)))
            .Initializer(TensorData.Create("ln.weight", ElementTypes.Float, [32], Values(32, 0.1).Select(v => 1 + v).ToArray()))
            .Initializer(TensorData.Create("ln.bias", ElementTypes.Float, [32], Values(32, 0.1)))
            .Initializer(TensorData.Create("fc2.weight", ElementTypes.Float, [32, 4], Values(128, 0.25)))
            .Initializer(TensorData.Create("fc2.bias", ElementTypes.Float, [4], Values(4, 0.1)))
            .Initializer(TensorData.Create("sqrt2", ElementTypes.Float, [], [Math.Sqrt(2)]))
            .Initializer(TensorData.Create("one", ElementTypes.Float, [], [1.0]))
            .Initializer(TensorData.Create("half", ElementTypes.Float, [], [0.5]))
            .Node("MatMul", ["x", "fc1.weight"], ["h0"])
            .Node("Add", ["h0", "fc1.bias"], ["h"])
            .Node("Div", ["h", "sqrt2"], ["g0"])
            .Node("Erf", ["g0"], ["g1"])
            .Node("Add", ["g1", "one"], ["g2"])
            .Node("Mul", ["h", "g2"], ["g3"])
            .Node("Mul", ["g3", "half"], ["g"])
            .Node("LayerNormalization", ["g", "ln.weight", "ln.bias"], ["n"], attributes: TinyModel.Attr("axis", -1L))
            .Node("MatMul", ["n", "fc2.weight"], ["o0"])
            .Node("Add", ["o0", "fc2.bias"], ["y"])
            .Build();
        return ExternalDataModels.WithSymbolRenamed(ExternalDataModels.WithSymbolRenamed(proto, "d0", "batch_size"), "d1", "seq_len");
    }

    [Fact]
    public void VerifyAndGradcheckRunModelsWithExternalData()
    {
        using var temp = new TempDirectory();
        string forward = ExternalDataModels.Write(Mlp(), temp.File("in"));
        string training = temp.File("a/training.onnx");
        string rewritten = temp.File("b/rewritten.onnx");
        Directory.CreateDirectory(temp.File("a"));
        Directory.CreateDirectory(temp.File("b"));
        Assert.Equal(0, CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "full").ExitCode);
        Assert.Equal(0, CliRunner.Run("rewrite", training, "-o", rewritten).ExitCode);
        Assert.NotEmpty(ExternalDataModels.Locations(training));
        Assert.NotEmpty(ExternalDataModels.Locations(rewritten));

        CliRunner.Result verify = CliRunner.Run("verify", training, rewritten, "--json", "--dim", "batch_size=2", "--dim", "seq_len=3");
        output.WriteLine(verify.Stdout);
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        JsonObject report = JsonNode.Parse(verify.Stdout)!.AsObject();
        Assert.True((double)report["forward_max_rel_diff"]! <= 1e-5);
        Assert.NotEmpty(report["gradients"]!.AsArray());

        CliRunner.Result gradcheck = CliRunner.Run("gradcheck", training, "--params", "6", "--json");
        output.WriteLine(gradcheck.Stdout);
        Assert.True(gradcheck.ExitCode == 0, gradcheck.Stderr);
        Assert.True((double)JsonNode.Parse(gradcheck.Stdout)!["max_rel_err"]! < 1e-3);
    }

    [Fact]
    public void BenchTrainsAForwardModelWithExternalData()
    {
        using var temp = new TempDirectory();
        string forward = ExternalDataModels.Write(Mlp(), temp.File("in"));
        var before = ExternalDataModels.Snapshot(temp.File("in"));

        CliRunner.Result result = CliRunner.Run("bench", forward, "--trainable", "lora-all", "--head-classes", "2", "--steps", "2",
            "--batch", "2", "--seq", "3", "--keep", temp.File("work"), "--json");

        output.WriteLine(result.Stderr);
        Assert.True(result.ExitCode == 0, result.Stderr);
        JsonObject json = JsonNode.Parse(result.Stdout)!.AsObject();
        Assert.True(float.IsFinite((float)json["baseline"]!["final_loss"]!));
        Assert.True(float.IsFinite((float)json["rewritten"]!["final_loss"]!));
        Assert.Equal(before, ExternalDataModels.Snapshot(temp.File("in")));
        // The kept artifacts are complete: the frozen base weights (external in the input) went with them.
        Assert.Equal(["training_model.onnx.data"], ExternalDataModels.Locations(temp.File("work/baseline/training_model.onnx")));
    }

    [Fact]
    public void TrainRunsAnArtifactSetWhoseFrozenWeightsAreExternal()
    {
        using var temp = new TempDirectory();
        string forward = ExternalDataModels.Write(Mlp(), temp.File("in"));
        // LoRA: the base weights stay frozen in the training graph, as external data.
        Assert.Equal(0, CliRunner.Run("train-graph", forward, "-o", temp.File("in/training.onnx"), "--trainable", "lora").ExitCode);
        OnnxModel training = OnnxModel.Load(temp.File("in/training.onnx"));
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(training, temp.File("set"));
        File.WriteAllBytes(temp.File("set/checkpoint"), OrtCheckpointFiles.Trainable(artifacts.Checkpoint.TrainableParameters));
        Assert.Equal(["training_model.onnx.data"], ExternalDataModels.Locations(temp.File("set/training_model.onnx")));

        CliRunner.Result result = CliRunner.Run("train", temp.File("set"), "--steps", "3", "--batch", "2", "--dim", "seq_len=3", "--json");

        output.WriteLine(result.Stdout + result.Stderr);
        Assert.True(result.ExitCode == 0, result.Stderr);
        JsonArray losses = JsonNode.Parse(result.Stdout)!["losses"]!.AsArray();
        Assert.Equal(3, losses.Count);
        Assert.All(losses, l => Assert.True(float.IsFinite((float)l!)));

        CliRunner.Result wrongDim = CliRunner.Run("train", temp.File("set"), "--steps", "1", "--dim", "seq=3");
        Assert.Equal(2, wrongDim.ExitCode);
        Assert.Contains("batch_size, seq_len", wrongDim.Stderr, StringComparison.Ordinal);
    }
}

/// <summary>ONNX Runtime checkpoint files (ODTC FlatBuffers) holding trainable parameters only, written by the tests' own FlatBuffer writer.</summary>
internal static class OrtCheckpointFiles
{
    public static byte[] Trainable(IEnumerable<CheckpointTensor> parameters)
    {
        // ort.fbs: Checkpoint { version 0, module_state 1 }, ModuleState { requires_grad_params 0 },
        // Tensor { name 0, dims 2, data_type 3 (FLOAT = 1), raw_data 4 }.
        var tensors = parameters.Select(p => (FlatBufferWriter.Node)new FlatBufferWriter.Table(new Dictionary<int, object>
        {
            [0] = new FlatBufferWriter.Str(p.Name),
            [2] = FlatBufferWriter.Int64s(p.Dims),
            [3] = FlatBufferWriter.Int32(1),
            [4] = FlatBufferWriter.Floats(p.Data),
        })).ToList();
        var module = new FlatBufferWriter.Table(new Dictionary<int, object> { [0] = new FlatBufferWriter.Vector(tensors) });
        var root = new FlatBufferWriter.Table(new Dictionary<int, object> { [0] = FlatBufferWriter.Int32(3), [1] = module });
        return FlatBufferWriter.Build(root, "ODTC");
    }
}
