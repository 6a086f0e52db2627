using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fuzz;

/// <summary>Each resource limit refuses with a clear error before work or memory explode.</summary>
public class ResourceLimitTests
{
    private static TinyModel Chain(int nodes)
    {
        var model = new TinyModel().Input("v0", TensorProto.Types.DataType.Float, 2).Output($"v{nodes}", TensorProto.Types.DataType.Float, 2);
        for (int i = 0; i < nodes; i++) model.Node("Relu", [$"v{i}"], [$"v{i + 1}"]);
        return model;
    }

    [Fact]
    public void NodeCountLimit()
    {
        var error = Assert.Throws<ModelLimitException>(() => OnnxModel.FromProto(Chain(50).Build(), "chain.onnx", limits: new ModelLimits { MaxNodes = 10 }));
        Assert.Contains("more than 10 nodes", error.Message);
    }

    [Fact]
    public void NestingDepthLimitThroughTheCommandLine()
    {
        ModelProto model = new TinyModel().Input("c", TensorProto.Types.DataType.Bool).Output("out39", TensorProto.Types.DataType.Bool).Build();
        model.Graph.Node.Add(NestedIfChain.Build(40, "c", "c"));
        using var temp = new TempDirectory();
        string path = temp.File("deep.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        CliRunner.Result result = CliRunner.Run("inspect", path);
        Assert.Equal(3, result.ExitCode);
        Assert.True(result.Stderr.Contains("deeper than"), result.Stderr);
    }

    [Fact]
    public void TensorBytesAreCheckedFromDimsBeforeAnythingIsAllocated()
    {
        var tensor = new TensorProto { Name = "w", DataType = 1, RawData = ByteString.CopyFrom(new byte[4]) };
        tensor.Dims.AddRange([1L << 20, 1L << 20, 1L << 10]);
        ModelProto model = Chain(1).Initializer(tensor).Build();
        var error = Assert.Throws<ModelLimitException>(() => OnnxModel.FromProto(model, "huge.onnx"));
        Assert.Contains("over the limit", error.Message);
    }

    [Fact]
    public void PatternMatchingStopsAtItsTimeBudget()
    {
        OnnxModel model = OnnxModel.FromProto(Chain(200).Build(), "chain.onnx");
        var options = new RewriteOptions { MatchTimeBudget = TimeSpan.Zero };
        var error = Assert.Throws<ModelLimitException>(() => MemoryPasses.Run(model, MemoryPasses.All, options: options));
        Assert.Contains("time budget", error.Message);
        Assert.StartsWith("chain.onnx", error.Message);
    }

    [Fact]
    public void VerifyRefusesInputsTooLargeToDraw()
    {
        // Found by the long fuzz run: a graph input of 2^31 elements made verify fill gigabytes.
        using var temp = new TempDirectory();
        string path = temp.File("huge-input.onnx");
        File.WriteAllBytes(path, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 1L << 16, 1L << 15)
            .Output("y", TensorProto.Types.DataType.Float, 1L << 16, 1L << 15)
            .Node("Relu", ["x"], ["y"]).ToBytes());
        CliRunner.Result result = CliRunner.Run("verify", path, path, "--json");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("elements; verify draws smaller random inputs", result.Stderr);
    }
}
