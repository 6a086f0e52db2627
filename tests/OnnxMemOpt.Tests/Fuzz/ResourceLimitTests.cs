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
        GraphProto body = new() { Name = "leaf" };
        body.Node.Add(new NodeProto { OpType = "Identity", Input = { "c" }, Output = { "leaf_out" } });
        body.Output.Add(new ValueInfoProto { Name = "leaf_out" });
        for (int i = 0; i < 40; i++)
        {
            var outer = new GraphProto { Name = $"level{i}" };
            var node = new NodeProto { OpType = "If", Input = { "c" }, Output = { $"out{i}" } };
            var other = new GraphProto { Name = $"else{i}" };
            other.Node.Add(new NodeProto { OpType = "Identity", Input = { "c" }, Output = { $"e{i}" } });
            other.Output.Add(new ValueInfoProto { Name = $"e{i}" });
            node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = body });
            node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = other });
            outer.Node.Add(node);
            outer.Output.Add(new ValueInfoProto { Name = $"out{i}" });
            body = outer;
        }
        ModelProto model = new TinyModel().Input("c", TensorProto.Types.DataType.Bool).Output("out39", TensorProto.Types.DataType.Bool).Build();
        model.Graph.Node.Add(body.Node[0]);
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
}
