using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Graph;

public class ShapeInferenceTests
{
    /// <summary>
    /// An attention-style head split written the way exporters write it: the target shape is
    /// computed from Shape(x) at run time, so the symbolic batch must flow through Gather/Concat.
    /// </summary>
    private static OnnxModel HeadSplit() => OnnxModel.FromProto(new TinyModel()
        .Input("x", TensorProto.Types.DataType.Float, null, 197, 768)
        .Output("scores", TensorProto.Types.DataType.Float)
        .Initializer(TinyModel.Int64Tensor("zero", [], [0]))
        .Initializer(TinyModel.Int64Tensor("tail", [3], [197, 12, 64]))
        .Initializer(TinyModel.Int64Tensor("axes0", [1], [0]))
        .Initializer(TensorData.Create("w", ElementTypes.Float, [768, 768], new double[768 * 768]))
        .Node("MatMul", ["x", "w"], ["q"])
        .Node("Shape", ["x"], ["shape"])
        .Node("Gather", ["shape", "zero"], ["batch"])
        .Node("Unsqueeze", ["batch", "axes0"], ["batch1"])
        .Node("Concat", ["batch1", "tail"], ["target"], "", TinyModel.Attr("axis", 0L))
        .Node("Reshape", ["q", "target"], ["heads"])
        .Node("Transpose", ["heads"], ["qt"], "", TinyModel.Attr("perm", [0L, 2, 1, 3]))
        .Node("Transpose", ["heads"], ["kt"], "", TinyModel.Attr("perm", [0L, 2, 3, 1]))
        .Node("MatMul", ["qt", "kt"], ["raw"])
        .Node("Softmax", ["raw"], ["scores"], "", TinyModel.Attr("axis", -1L))
        .Build());

    [Fact]
    public void SymbolicBatchFlowsThroughDynamicReshape()
    {
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(HeadSplit().Graph);
        Assert.Equal("[d0,12,197,197]", types["scores"].Shape!.ToString());
        Assert.Null(types["scores"].ByteSize);
    }

    /// <summary>
    /// torch's `expand(batch, seq)` with sizes read at run time: the exporter writes
    /// Where(Equal(sizes, -1), ones, sizes) before Expand, so Equal and Where must carry the
    /// sizes' values for the symbolic dims to reach Expand's output.
    /// </summary>
    [Fact]
    public void ExporterExpandIdiomKeepsSymbolicSizes()
    {
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("ids", TensorProto.Types.DataType.Int64, null, null)
            .Input("row", TensorProto.Types.DataType.Int64, 1, null)
            .Output("expanded", TensorProto.Types.DataType.Int64)
            .Initializer(TinyModel.Int64Tensor("two", [1], [2]))
            .Initializer(TinyModel.Int64Tensor("minus_one", [], [-1]))
            .Node("Shape", ["ids"], ["sizes"])
            .Node("ConstantOfShape", ["two"], ["ones"], "", new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TinyModel.Int64Tensor("v", [1], [1]) })
            .Node("Equal", ["sizes", "minus_one"], ["is_free"])
            .Node("Where", ["is_free", "ones", "sizes"], ["target"])
            .Node("Expand", ["row", "target"], ["expanded"])
            .Build());
        Assert.Equal("[d0,d1]", ShapeInference.Infer(model.Graph)["expanded"].Shape!.ToString());
    }

    /// <summary>Expand to sizes nobody can compute before the run still has a known rank.</summary>
    [Fact]
    public void ExpandToUnknownSizesKeepsTheRank()
    {
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("row", TensorProto.Types.DataType.Float, 1, 64)
            .Input("target", TensorProto.Types.DataType.Int64, 3)
            .Output("expanded", TensorProto.Types.DataType.Float)
            .Node("Expand", ["row", "target"], ["expanded"])
            .Build());
        Assert.Equal("[?,?,64]", ShapeInference.Infer(model.Graph)["expanded"].Shape!.ToString());
    }

    /// <summary>DropoutGrad(dY, mask, ratio, training_mode): dX has dY's type, not the bool mask's.</summary>
    [Fact]
    public void DropoutGradientHasTheGradientsType()
    {
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("dy", TensorProto.Types.DataType.Float, null, 8)
            .Input("mask", TensorProto.Types.DataType.Bool, null, 8)
            .Output("dx", TensorProto.Types.DataType.Float)
            .Node("DropoutGrad", ["dy", "mask"], ["dx"], "com.microsoft")
            .Build());
        Assert.Equal("float[d0,8]", ShapeInference.Infer(model.Graph)["dx"].ToString());
    }

    [Fact]
    public void BoundDimsGiveByteSizes()
    {
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(HeadSplit().Graph, DimBindings.Parse(["d0=4"]));
        Assert.Equal(4L * 12 * 197 * 197 * 4, types["scores"].ByteSize);
        Assert.Equal(4L * 197 * 768 * 4, types["q"].ByteSize);
    }

    [Fact]
    public void NormStatisticsAndTwoBitCodesHaveTheirOwnShapes()
    {
        OnnxModel model = OnnxModel.FromProto(new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float16, 8, 10)
            .Input("g", TensorProto.Types.DataType.Float16, 10)
            .Output("code", TensorProto.Types.DataType.Uint8)
            .Output("rstd", TensorProto.Types.DataType.Float)
            .Node("LayerNormalization", ["x", "g"], ["y", "mean", "rstd"], "", TinyModel.Attr("axis", -1L))
            .Node("ReGelu2", ["y"], ["a", "code"], "com.onnxmemopt")
            .Build());
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph);
        Assert.Equal("float[8,1]", types["rstd"].ToString());
        Assert.Equal("uint8[20]", types["code"].ToString());
        Assert.Equal("float16[8,10]", types["a"].ToString());
    }

    [SkippableFact]
    public void RealForwardModelsAreFullySizedOnceSymbolsAreBound()
    {
        string path = SharedTestData.RequireFile("forward/bert_toy_optimized.onnx");
        OnnxModel model = OnnxModel.Load(path);
        var symbols = model.Proto.Graph.Input
            .SelectMany(i => i.Type.TensorType.Shape.Dim)
            .Where(d => d.DimParam.Length > 0)
            .Select(d => d.DimParam).Distinct().ToList();
        Assert.NotEmpty(symbols);
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph, DimBindings.Parse(symbols.Select(s => $"{s}=3")));
        var floatOutputs = model.Graph.Nodes.SelectMany(n => n.Outputs)
            .Where(o => types.TryGetValue(o, out var t) && ElementTypes.IsFloatingPoint(t.ElementType)).ToList();
        Assert.NotEmpty(floatOutputs);
        Assert.All(floatOutputs, o => Assert.True(types[o].ByteSize is not null, $"{o}: {types[o]}"));
    }
}
