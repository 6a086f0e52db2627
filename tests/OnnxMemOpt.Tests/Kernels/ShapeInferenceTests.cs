using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// The ops' output shape inference: ONNX Runtime learns output types and shapes at session
/// creation (graph outputs are declared without a shape here), and symbolic input dimensions
/// still load and run.
/// </summary>
public class ShapeInferenceTests
{
    [Fact]
    public void StaticShapesAreInferredForEveryOutput()
    {
        var model = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float16, 6, 11)
            .OutputUnshaped("Y", TensorProto.Types.DataType.Float16)
            .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
            .OutputUnshaped("Z", TensorProto.Types.DataType.Float16)
            .OutputUnshaped("InvStdDev", TensorProto.Types.DataType.Float)
            .Node("ReSilu2", ["X"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain)
            .Node("MsLayerNorm", ["Y"], ["Z", "InvStdDev"], CustomOps.CustomOpLibrary.Domain, TinyModel.Attr("axis", 1L));
        using var runner = new KernelRunner(model);
        var metadata = runner.Session.OutputMetadata;
        Assert.Equal([6, 11], metadata["Y"].Dimensions);
        Assert.Equal([17], metadata["Code"].Dimensions);
        Assert.Equal([6, 11], metadata["Z"].Dimensions);
        Assert.Equal([6, 1], metadata["InvStdDev"].Dimensions);
    }

    [Fact]
    public void SymbolicDimensionsLoadAndRun()
    {
        var model = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float, null, 8)
            .OutputUnshaped("Y", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
            .OutputUnshaped("dX", TensorProto.Types.DataType.Float)
            .Node("ReGelu2", ["X"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain)
            .Node("ReGelu2Grad", ["Y", "Code"], ["dX"], CustomOps.CustomOpLibrary.Domain);
        using var runner = new KernelRunner(model);
        Assert.Equal("d0", runner.Session.OutputMetadata["Y"].SymbolicDimensions[0]);
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(24, 1), [3, 8])));
        Assert.Equal([6], KernelRunner.Shape(outputs["Code"]));
        Assert.Equal([3, 8], KernelRunner.Shape(outputs["dX"]));
    }
}
