using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Onnx;

/// <summary>
/// A model with external data, written by any command into another folder, loads there: its
/// tensors' bytes go to one data file beside the output, named after it; the input folder is never
/// changed; written beside the input, the output shares the input's data file.
/// </summary>
public class ExternalDataOutputTests
{
    [Theory]
    [InlineData("fuse")]
    [InlineData("train-graph")]
    [InlineData("rewrite")]
    public void OutputInAnotherFolderGetsItsOwnDataFileAndLoads(string command)
    {
        using var temp = new TempDirectory();
        string input = ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.File("in"));
        if (command == "rewrite")
        {
            // rewrite works on training graphs: make one, with external data, beside the forward model.
            Assert.Equal(0, CliRunner.Run("train-graph", input, "-o", temp.File("in/training.onnx"), "--trainable", "lora").ExitCode);
            // Beside its input, the training graph shares the input's data file.
            Assert.Equal(["model.onnx.data"], ExternalDataModels.Locations(temp.File("in/training.onnx")));
            input = temp.File("in/training.onnx");
        }
        var before = ExternalDataModels.Snapshot(temp.File("in"));
        Directory.CreateDirectory(temp.File("out"));
        string output = temp.File("out/result.onnx");

        string[] args = command == "train-graph" ? [command, input, "-o", output, "--trainable", "lora"] : [command, input, "-o", output];
        CliRunner.Result result = CliRunner.Run(args);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(before, ExternalDataModels.Snapshot(temp.File("in")));
        Assert.Equal(["result.onnx.data"], ExternalDataModels.Locations(output));
        Assert.Equal(["result.onnx", "result.onnx.data"], Directory.EnumerateFiles(temp.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertSameWeights(OnnxModel.Load(input), OnnxModel.Load(output));
        // Opened by path, as a user's host opens it. The graph optimisations are off, as in the fuzz
        // check: this test is about finding the data, not about ONNX Runtime's fusions.
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        using var session = new InferenceSession(output, options);
        Assert.NotEmpty(session.OutputMetadata);
    }

    [Fact]
    public void OutputBesideTheInputSharesItsDataFile()
    {
        using var temp = new TempDirectory();
        string input = ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.Path);
        string output = temp.File("copy.onnx");

        CliRunner.Result result = CliRunner.Run("rewrite", input, "-o", output, "--passes", "none");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(File.ReadAllBytes(input), File.ReadAllBytes(output)); // byte for byte: nothing re-pointed
        Assert.False(File.Exists(temp.File("copy.onnx.data")));
    }

    [Fact]
    public void AnOutputNamedLikeAnInputDataFileIsRefused()
    {
        using var temp = new TempDirectory();
        string input = ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.Path);
        var before = ExternalDataModels.Snapshot(temp.Path);

        CliRunner.Result overData = CliRunner.Run("rewrite", input, "-o", temp.File("model.onnx.data"));
        Assert.Equal(3, overData.ExitCode);
        Assert.Contains("reads its external data from it", overData.Stderr, StringComparison.Ordinal);

        // The input reads "other.onnx.data"; an output "other.onnx" beside it whose large tensors
        // must go to "other.onnx.data" would replace the input's weights.
        string second = ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.Path, "second.onnx", "other.onnx.data");
        var all = ExternalDataModels.Snapshot(temp.Path);
        OnnxModel model = OnnxModel.Load(second);
        model.Proto.Graph.Initializer.Add(TensorData.Create("extra", ElementTypes.Float, [64], new double[64]));
        var error = Assert.Throws<UnsupportedModelException>(() => ModelWriter.Save(model, temp.File("other.onnx"), externalizeThreshold: 0));
        Assert.Contains("choose another output name", error.Message, StringComparison.Ordinal);
        Assert.Equal(all, ExternalDataModels.Snapshot(temp.Path));
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), all.Keys.Except(["second.onnx", "other.onnx.data"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AModelShippedWithoutItsWeightsKeepsItsReferences()
    {
        using var temp = new TempDirectory();
        string input = ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.File("in"));
        File.Delete(temp.File("in/model.onnx.data"));
        Directory.CreateDirectory(temp.File("out"));

        CliRunner.Result result = CliRunner.Run("rewrite", input, "-o", temp.File("out/model.onnx"), "--passes", "none");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(["model.onnx.data"], ExternalDataModels.Locations(temp.File("out/model.onnx")));
        Assert.False(File.Exists(temp.File("out/model.onnx.data")));
    }

    [Fact]
    public void ExternalAttributeTensorsAndInlineInitializersShareTheOutputsDataFile()
    {
        using var temp = new TempDirectory();
        double[] constant = Enumerable.Range(0, 32).Select(i => i * 0.25).ToArray();
        double[] weight = Enumerable.Range(0, 32).Select(i => -i * 0.5).ToArray();
        ModelProto proto = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 32)
            .Output("y", TensorProto.Types.DataType.Float, 32)
            .Initializer(TensorData.Create("w", ElementTypes.Float, [32], weight))
            .Initializer(TensorData.Create("b", ElementTypes.Float, [1], [3.0]))
            .Node("Constant", [], ["c"], attributes: new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorData.Create("c", ElementTypes.Float, [32], constant) })
            .Node("Add", ["x", "c"], ["t"])
            .Node("Mul", ["t", "w"], ["u"])
            .Node("Add", ["u", "b"], ["y"])
            .Build();
        // c (a Constant's tensor) and w go to the input's data file; b (4 bytes) stays inline.
        string input = ExternalDataModels.Write(proto, temp.File("in"), minBytes: 64);
        OnnxModel model = OnnxModel.Load(input);
        Assert.True(TensorData.IsExternal(model.Proto.Graph.Node[0].Attribute[0].T));
        Assert.False(TensorData.IsExternal(model.Graph.Initializer("b")!));
        Directory.CreateDirectory(temp.File("out"));

        // A threshold of 0 stands for an output over 2 GiB: every inline initializer must leave too.
        ModelWriter.Save(model, temp.File("out/model.onnx"), externalizeThreshold: 0);

        OnnxModel written = OnnxModel.Load(temp.File("out/model.onnx"));
        Assert.Equal(["model.onnx.data"], ExternalDataModels.Locations(temp.File("out/model.onnx")));
        Assert.Equal(constant, TensorData.ToDoubles(written.Proto.Graph.Node[0].Attribute[0].T, written));
        Assert.Equal(weight, TensorData.ToDoubles(written.Graph.Initializer("w")!, written));
        Assert.True(TensorData.IsExternal(written.Graph.Initializer("b")!));
        Assert.Equal([3.0], TensorData.ToDoubles(written.Graph.Initializer("b")!, written));
        Assert.False(TensorData.IsExternal(model.Graph.Initializer("b")!)); // the caller's model is untouched
        Assert.Empty(Directory.EnumerateFiles(temp.File("out"), "*.tmp"));
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        using var session = new InferenceSession(temp.File("out/model.onnx"), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(new float[32], [32]))]);
        Assert.Equal(constant.Zip(weight, (c, w) => (float)(c * w + 3.0)), results[0].AsEnumerable<float>());
    }

    [Fact]
    public void InMemorySessionsReadExternalDataFromTheModelsFolder()
    {
        using var temp = new TempDirectory();
        ModelProto proto = ExternalDataModels.Fixture("vit-tiny");
        OnnxModel inline = OnnxModel.FromProto(proto);
        OnnxModel external = OnnxModel.Load(ExternalDataModels.Write(proto, temp.Path));
        Assert.True(ModelTensors.HasExternalData(external.Proto));

        float[] expected = RunOnce(inline, maxInlineBytes: ModelWriter.MaxProtobufBytes);
        Assert.Equal(expected, RunOnce(external, maxInlineBytes: ModelWriter.MaxProtobufBytes));
        // Past the protobuf limit (here a tiny stand-in for 2 GiB) the session is opened from a
        // temporary copy whose large tensors went to a data file beside it; the copy is removed.
        int leftoverBefore = TemporarySessionFolders();
        Assert.Equal(expected, RunOnce(external, maxInlineBytes: 1024));
        Assert.Equal(expected, RunOnce(inline, maxInlineBytes: 1024));
        Assert.Equal(leftoverBefore, TemporarySessionFolders());
    }

    [Fact]
    public void ExternalDataWithoutAFolderIsAnInputError()
    {
        using var temp = new TempDirectory();
        OnnxModel loaded = OnnxModel.Load(ExternalDataModels.Write(ExternalDataModels.Fixture("vit-tiny"), temp.Path));
        OnnxModel detached = OnnxModel.FromProto(loaded.Proto.Clone(), "detached");
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        var error = Assert.Throws<ExternalDataException>(() => ModelSessions.Open(detached, options));
        Assert.StartsWith("detached:", error.Message, StringComparison.Ordinal);
    }

    private static int TemporarySessionFolders() =>
        Directory.EnumerateDirectories(Path.GetTempPath(), "onnxmemopt-session-*").Count();

    private static float[] RunOnce(OnnxModel model, long maxInlineBytes)
    {
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        using InferenceSession session = ModelSessions.Open(model, options, maxInlineBytes);
        var input = session.InputMetadata.Single();
        int[] shape = input.Value.Dimensions.Select(d => d < 0 ? 2 : d).ToArray();
        float[] values = Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(i => MathF.Sin(i * 0.1f)).ToArray();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input.Key, new DenseTensor<float>(values, shape))]);
        return results[0].AsEnumerable<float>().ToArray();
    }

    /// <summary>Every initializer both models hold has the same values (the output's read from its own data file).</summary>
    private static void AssertSameWeights(OnnxModel input, OnnxModel output)
    {
        var inputs = input.Proto.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        int compared = 0;
        foreach (TensorProto tensor in output.Proto.Graph.Initializer.Where(t => inputs.ContainsKey(t.Name)))
        {
            if (ElementTypes.IsFloatingPoint(tensor.DataType))
            {
                Assert.Equal(TensorData.ToDoubles(inputs[tensor.Name], input), TensorData.ToDoubles(tensor, output));
                compared++;
            }
        }
        Assert.True(compared > 0, "no weight in common");
    }
}
