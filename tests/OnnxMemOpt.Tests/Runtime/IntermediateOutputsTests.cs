using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Calibration;
using OnnxMemOpt.Tests.Support;
using Xunit;

namespace OnnxMemOpt.Tests.Runtime;

public class IntermediateOutputsTests
{
    private const TensorProto.Types.DataType Float = TensorProto.Types.DataType.Float;

    /// <summary>
    /// Rewritten graphs may list a consumer before its producer (ONNX Runtime sorts them); the copy
    /// that keeps what a value needs must still keep that producer, and nothing else.
    /// </summary>
    [Fact]
    public void KeepsProducersListedAfterTheirConsumers()
    {
        ModelProto model = new TinyModel()
            .Input("x", Float, 4)
            .Output("z", Float, 4)
            .Output("unrelated", Float, 4)
            .Node("Neg", ["y"], ["z"])
            .Node("Relu", ["x"], ["y"])
            .Node("Abs", ["x"], ["unrelated"])
            .Build();

        ModelProto probe = IntermediateOutputs.Of(model, ["z"], onlyWhatTheyNeed: true);

        Assert.Equal(["Neg", "Relu"], probe.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["z"], probe.Graph.Output.Select(o => o.Name));
        Assert.Equal(["x"], probe.Graph.Input.Select(i => i.Name));
    }

    [Fact]
    public void KeepsWhatASubgraphReadsFromOutsideIt()
    {
        var branch = new GraphProto { Name = "branch" };
        branch.Node.Add(new NodeProto { OpType = "Identity", Input = { "outer" }, Output = { "picked" } });
        branch.Output.Add(new ValueInfoProto { Name = "picked" });
        var condition = new NodeProto { OpType = "If", Input = { "flag" }, Output = { "out" } };
        condition.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch });
        condition.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch.Clone() });
        ModelProto model = new TinyModel()
            .Input("x", Float, 4)
            .Input("flag", TensorProto.Types.DataType.Bool)
            .Output("out", Float, 4)
            .Node("Relu", ["x"], ["outer"])
            .Build();
        model.Graph.Node.Add(condition);

        ModelProto probe = IntermediateOutputs.Of(model, ["out"], onlyWhatTheyNeed: true);

        Assert.Equal(["Relu", "If"], probe.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["x", "flag"], probe.Graph.Input.Select(i => i.Name));
    }
}
