using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Graph;

public class GraphIrTests
{
    private static OnnxModel Diamond() => OnnxModel.FromProto(new TinyModel()
        .Input("x", TensorProto.Types.DataType.Float, 2)
        .Output("out", TensorProto.Types.DataType.Float, 2)
        // Deliberately out of order in the file: the consumer comes before its producers.
        .Node("Add", ["left", "right"], ["out"])
        .Node("Relu", ["x"], ["left"])
        .Node("Neg", ["x"], ["right"])
        .Build());

    [Fact]
    public void ProducersAndConsumersAreIndexed()
    {
        OnnxGraph graph = Diamond().Graph;
        Assert.Equal("Relu", graph.Producer("left")!.OpType);
        Assert.Null(graph.Producer("x"));
        Assert.Equal(["Add", "Neg", "Relu"], graph.Consumers("x").Concat(graph.Consumers("left")).Select(n => n.OpType).Order());
    }

    [Fact]
    public void TopologicalOrderIsDeterministicAndKeepsFileOrderAmongReadyNodes()
    {
        OnnxGraph graph = Diamond().Graph;
        Assert.Equal(["Relu", "Neg", "Add"], graph.TopologicalOrder().Select(n => n.OpType));
        graph.SortNodes();
        Assert.Equal(["Relu", "Neg", "Add"], graph.Proto.Node.Select(n => n.OpType));
    }

    [Fact]
    public void EditsKeepTheIndexTrue()
    {
        OnnxModel model = Diamond();
        OnnxGraph graph = model.Graph;
        // Replace Neg(x) by Sigmoid(x): add the new node, rewire, remove the old one.
        OnnxNode neg = graph.Producer("right")!;
        string replacement = graph.UniqueName("right");
        graph.AddNode("Sigmoid", ["x"], [replacement]);
        graph.ReplaceAllUses("right", replacement);
        graph.RemoveNode(neg);
        graph.SortNodes();

        Assert.Empty(graph.Consumers("right"));
        Assert.Equal("Sigmoid", graph.Producer(graph.Producer("out")!.Inputs[1])!.OpType);
        Assert.DoesNotContain(graph.Nodes, n => n.OpType == "Neg");
        // The edited document is still a valid model.
        OnnxModel reparsed = OnnxModel.FromProto(model.Proto);
        Assert.Equal(3, reparsed.Graph.Nodes.Count);
    }

    [Fact]
    public void RemovingANodeThatIsStillReadIsRefused()
    {
        OnnxGraph graph = Diamond().Graph;
        Assert.Throws<InvalidOperationException>(() => graph.RemoveNode(graph.Producer("left")!));
    }

    [Fact]
    public void RemoveDeadNodesDropsUnreadChains()
    {
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 2)
            .Output("y", TensorProto.Types.DataType.Float, 2)
            .Node("Relu", ["x"], ["y"])
            .Node("Neg", ["x"], ["dead1"])
            .Node("Exp", ["dead1"], ["dead2"])
            .Build());
        Assert.Equal(2, model.Graph.RemoveDeadNodes());
        Assert.Single(model.Graph.Nodes);
    }

    [Fact]
    public void SubgraphReadsCountAsConsumersOfTheOwningNode()
    {
        var body = new GraphProto { Name = "then" };
        body.Node.Add(new NodeProto { OpType = "Identity", Input = { "outer" }, Output = { "inner" } });
        body.Output.Add(new ValueInfoProto { Name = "inner" });
        var elseBody = body.Clone();
        elseBody.Name = "else";
        var ifNode = new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = body };
        var elseNode = new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBody };
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("c", TensorProto.Types.DataType.Bool)
            .Input("x", TensorProto.Types.DataType.Float, 2)
            .Output("y", TensorProto.Types.DataType.Float, 2)
            .Node("If", ["c"], ["y"], "", ifNode, elseNode)
            .Node("Relu", ["x"], ["outer"])
            .Build());
        OnnxGraph graph = model.Graph;
        Assert.Equal("If", Assert.Single(graph.Consumers("outer")).OpType);
        Assert.Equal(["Relu", "If"], graph.TopologicalOrder().Select(n => n.OpType));
    }
}
