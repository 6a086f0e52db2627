using System.Text.Json;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Artifacts;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>`onnxmemopt artifacts`: the set's files and ONNX Runtime's conventions, and the error contract.</summary>
public class ArtifactsCommandTests
{
    private static string Fixture(string name) => Path.Combine(SharedTestData.RepoRoot, "fixtures", "models", name + ".onnx");

    [Fact]
    public void LoraSetFollowsOnDeviceTrainingConventions()
    {
        using var temp = new TempDirectory();
        string folder = temp.File("set");
        CliRunner.Result result = CliRunner.Run("artifacts", Fixture("llama-tiny"), "-o", folder, "--trainable", "lora", "--lora-rank", "2", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(["training_model.onnx", "eval_model.onnx", "optimizer_model.onnx", "checkpoint"],
            json.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["checkpoint", "eval_model.onnx", "optimizer_model.onnx", "training_model.onnx"],
            Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // Inputs: the forward model's, then int64 labels, then parameters, their buffers, lazy_reset_grad.
        OrtCheckpoint checkpoint = OrtCheckpointReader.Read(Path.Combine(folder, "checkpoint"));
        string[] trainable = checkpoint.TrainableParameters.Select(t => t.Name).ToArray();
        Assert.NotEmpty(trainable);
        Assert.All(trainable, p => Assert.Matches("lora_(A|B)$", p));
        Assert.Empty(checkpoint.FrozenParameters);
        GraphProto training = OnnxModel.Load(Path.Combine(folder, "training_model.onnx")).Proto.Graph;
        GraphProto forward = OnnxModel.Load(Fixture("llama-tiny")).Proto.Graph;
        var forwardInputs = forward.Input.Select(i => i.Name).Where(n => forward.Initializer.All(t => t.Name != n)).ToArray();
        string[] expectedInputs =
        [
            .. forwardInputs, "labels", .. trainable,
            .. trainable.Select(p => p + "_grad.accumulation.buffer"), "lazy_reset_grad",
        ];
        Assert.Equal(expectedInputs, training.Input.Select(i => i.Name));
        Assert.Equal((int)TensorProto.Types.DataType.Int64, training.Input.Single(i => i.Name == "labels").Type.TensorType.ElemType);
        Assert.Equal((int)TensorProto.Types.DataType.Bool, training.Input[^1].Type.TensorType.ElemType);
        Assert.All(trainable, p => Assert.DoesNotContain(training.Initializer, t => t.Name == p));

        // Outputs: the loss, then one updated flag per parameter, each from InPlaceAccumulatorV2.
        Assert.Equal(["loss", .. trainable.Select(p => p + "_grad.accumulation.out")], training.Output.Select(o => o.Name));
        foreach (string parameter in trainable)
        {
            NodeProto accumulator = training.Node.Single(n => n.Output.Contains(parameter + "_grad.accumulation.out"));
            Assert.Equal(("com.microsoft", "InPlaceAccumulatorV2"), (accumulator.Domain, accumulator.OpType));
            Assert.Equal(parameter + "_grad.accumulation.buffer", accumulator.Input[0]);
            Assert.Equal("lazy_reset_grad", accumulator.Input[2]);
        }

        // The eval model: the forward part, no gradient, parameters as inputs, the loss first.
        GraphProto eval = OnnxModel.Load(Path.Combine(folder, "eval_model.onnx")).Proto.Graph;
        Assert.Equal("loss", eval.Output[0].Name);
        Assert.Contains(eval.Output, o => o.Name == forward.Output[0].Name);
        Assert.DoesNotContain(eval.Node, n => n.OpType.EndsWith("Grad", StringComparison.Ordinal) || n.OpType == "InPlaceAccumulatorV2");
        Assert.All(trainable, p => Assert.Contains(eval.Input, i => i.Name == p));

        // The optimizer model and the optimizer state ONNX Runtime reads.
        AdamWSettings adam = AdamWSettings.FromOptimizerModel(Path.Combine(folder, "optimizer_model.onnx"));
        Assert.Equal(OptimizerModel.GeneratorDefaults, adam);
        Assert.Equal(OptimizerModel.InputNames, OnnxModel.Load(Path.Combine(folder, "optimizer_model.onnx")).Proto.Graph.Input.Select(i => i.Name));
        OptimizerGroupState group = Assert.Single(checkpoint.OptimizerGroups);
        Assert.Equal(("group0", 0L, TrainerOptions.DefaultLearningRate), (group.Name, group.Step, group.InitialLearningRate));
        Assert.Equal(trainable, group.Parameters.Select(p => p.ParameterName));
        Assert.All(group.Parameters, p => Assert.Equal(["momentum0", "momentum1"], p.Moments.Select(m => m.Name)));
        Assert.All(group.Parameters.SelectMany(p => p.Moments).SelectMany(m => m.Data), v => Assert.Equal(0f, v));
        Assert.Equal("ODTC", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(folder, "checkpoint")), 4, 4));

        // The trainer loads the set as it loads ONNX Runtime's own.
        TrainingArtifacts loaded = TrainingArtifacts.Load(folder);
        Assert.Equal(trainable.Order(StringComparer.Ordinal), loaded.Layout.GradientBuffers.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["input_ids", "labels"], loaded.Layout.UserInputs.Select(i => i.Name));
    }

    [Fact]
    public void WithoutOptimizerStateTheCheckpointHoldsParametersOnly()
    {
        using var temp = new TempDirectory();
        string folder = temp.File("set");
        CliRunner.Result result = CliRunner.Run("artifacts", Fixture("llama-tiny"), "-o", folder, "--trainable", "lora", "--no-optimizer-state");
        Assert.True(result.ExitCode == 0, result.Stderr);
        OrtCheckpoint checkpoint = OrtCheckpointReader.Read(Path.Combine(folder, "checkpoint"));
        Assert.Empty(checkpoint.OptimizerGroups);
        Assert.NotEmpty(checkpoint.TrainableParameters);
    }

    [Fact]
    public void BadInputExitsWith3NamingTheFileAndLeavesNoFolder()
    {
        using var temp = new TempDirectory();
        string model = temp.File("broken.onnx");
        File.WriteAllBytes(model, [0x08, 0x07, 0xFF, 0xFF, 0x01]);
        string folder = temp.File("out");
        CliRunner.Result result = CliRunner.Run("artifacts", model, "-o", folder);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains(model, result.Stderr);
        Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(folder));

        // A model the builder cannot train (no MatMul for LoRA to adapt) fails the same way, and an
        // existing empty folder stays empty.
        Directory.CreateDirectory(folder);
        string identity = temp.File("identity.onnx");
        File.WriteAllBytes(identity, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 2, 3)
            .Output("y", TensorProto.Types.DataType.Float, 2, 3)
            .Node("Identity", ["x"], ["y"])
            .ToBytes());
        CliRunner.Result unsupported = CliRunner.Run("artifacts", identity, "-o", folder, "--trainable", "lora");
        Assert.Equal(3, unsupported.ExitCode);
        Assert.Contains(identity, unsupported.Stderr);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(temp.Path), e => Path.GetFileName(e).StartsWith('.'));
    }

    [Fact]
    public void ANonEmptyOutputFolderIsAUsageError()
    {
        using var temp = new TempDirectory();
        string folder = temp.File("set");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "mine");
        CliRunner.Result result = CliRunner.Run("artifacts", Fixture("llama-tiny"), "-o", folder, "--trainable", "lora");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not empty", result.Stderr);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName));
    }
}
