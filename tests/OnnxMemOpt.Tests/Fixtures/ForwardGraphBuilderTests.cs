using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Building;
using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Fixtures;

public sealed class ForwardGraphBuilderTests
{
    [Fact]
    public void NamesFollowTheExporter()
    {
        var b = new ForwardGraphBuilder("g", seed: 1);
        string x = b.Input("x", TensorProto.Types.DataType.Float, Dim.Symbolic("batch"), Dim.Of(4));
        string first, second, weight, constant;
        using (b.Scope("blocks.0"))
        using (b.Scope("attn"))
        {
            weight = b.Parameter("weight", [4, 4], WeightInit.ForFanIn(4));
            first = b.Op("MatMul", x, weight);
            second = b.Op("MatMul", first, weight);
            constant = b.ScalarConstant(2f);
        }
        string top = b.Op("Add", second, constant);
        b.Output(top, "y", TensorProto.Types.DataType.Float, Dim.Symbolic("batch"), Dim.Of(4));
        var graph = b.ToModel(opset: 17, irVersion: 8).Graph;

        Assert.Equal("blocks.0.attn.weight", weight);
        Assert.Equal("/blocks.0/attn/MatMul_output_0", first);
        Assert.Equal("/blocks.0/attn/MatMul_1_output_0", second);
        Assert.Equal("/blocks.0/attn/Constant_output_0", constant);
        Assert.Equal("/blocks.0/attn/Constant_attr::value", graph.Node.Single(n => n.OpType == "Constant").Attribute[0].T.Name);
        // The output name replaces the producer's value name; no Identity is added.
        Assert.Equal("/Add", graph.Node.Last().Name);
        Assert.Equal(["y"], graph.Node.Last().Output);
        Assert.Equal(16, b.ParameterCount);
    }

    [Fact]
    public void FixedBatchGivesConstantShapes()
    {
        var symbolic = VitModel.Build(FixtureCatalog.VitTiny).Graph;
        var fixedBatch = VitModel.Build(FixtureCatalog.VitTiny with { Batch = 3 }).Graph;

        Assert.Equal("batch", symbolic.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Contains(symbolic.Node, n => n.OpType == "Shape");
        Assert.Equal(3, fixedBatch.Input[0].Type.TensorType.Shape.Dim[0].DimValue);
        Assert.Equal(3, fixedBatch.Output[0].Type.TensorType.Shape.Dim[0].DimValue);
        Assert.DoesNotContain(fixedBatch.Node, n => n.OpType == "Shape");
    }

    [Fact]
    public void WeightsDependOnSeedAndNameOnly()
    {
        // Adding a block leaves the shared tensors' bytes unchanged; another seed changes them.
        var two = VitModel.Build(FixtureCatalog.VitTiny).Graph.Initializer.ToDictionary(t => t.Name);
        var three = VitModel.Build(FixtureCatalog.VitTiny with { Blocks = 3 }).Graph.Initializer.ToDictionary(t => t.Name);
        var reseeded = VitModel.Build(FixtureCatalog.VitTiny with { Seed = 99 }).Graph.Initializer.ToDictionary(t => t.Name);

        Assert.Equal(two["blocks.1.mlp.fc1.weight"].RawData, three["blocks.1.mlp.fc1.weight"].RawData);
        Assert.Equal(two["head.weight"].RawData, three["head.weight"].RawData);
        Assert.NotEqual(two["blocks.1.mlp.fc1.weight"].RawData, reseeded["blocks.1.mlp.fc1.weight"].RawData);
    }

    [Fact]
    public void InvalidSizesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => VitModel.Build(FixtureCatalog.VitTiny with { Heads = 5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LlamaModel.Build(FixtureCatalog.LlamaTiny with { Blocks = 0 }));
    }
}
