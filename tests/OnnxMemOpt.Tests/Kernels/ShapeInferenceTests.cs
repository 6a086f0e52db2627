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
    public void InputsWithoutShapeLoadAndRun()
    {
        var model = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Z", TensorProto.Types.DataType.Float)
            .OutputUnshaped("InvStdDev", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Y", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
            .Node("MsRmsNorm", ["X"], ["Z", "InvStdDev"], CustomOps.CustomOpLibrary.Domain)
            .Node("ReSilu2", ["Z"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain)
            .Build();
        model.Graph.Input[0].Type.TensorType.Shape = null;
        using var runner = new KernelRunner(model);
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(30, 4), [5, 6])));
        Assert.Equal([5, 1], KernelRunner.Shape(outputs["InvStdDev"]));
        Assert.Equal([8], KernelRunner.Shape(outputs["Code"]));
    }

    /// <summary>
    /// Dims that are neither numbers nor symbols (what ONNX Runtime infers behind a Reshape to a
    /// run-time shape) must stay unknown through the ops' inference: written back as the number
    /// -1, a Shape → Reshape after the op reads two -1s and ONNX Runtime refuses the model.
    /// </summary>
    [Fact]
    public void UnknownDimensionsStayUnknownThroughTheOps()
    {
        var model = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float, null, null, 8)
            .OutputUnshaped("Back", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
            .Node("ReSilu2", ["X"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain)
            .Node("MsLayerNorm", ["Y"], ["Z", "InvStdDev"], CustomOps.CustomOpLibrary.Domain)
            .Node("Shape", ["Z"], ["S"])
            .Node("Reshape", ["Z", "S"], ["Back"])
            .Build();
        foreach (var dim in model.Graph.Input[0].Type.TensorType.Shape.Dim.Take(2)) dim.ClearValue();
        using var runner = new KernelRunner(model);
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(48, 5), [2, 3, 8])));
        Assert.Equal([2, 3, 8], KernelRunner.Shape(outputs["Back"]));
        Assert.Equal([12], KernelRunner.Shape(outputs["Code"]));
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
        Assert.Equal(8, runner.Session.OutputMetadata["dX"].Dimensions[1]);
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(24, 1), [3, 8])));
        Assert.Equal([6], KernelRunner.Shape(outputs["Code"]));
        Assert.Equal([3, 8], KernelRunner.Shape(outputs["dX"]));
    }
    /// <summary>
    /// A dimension with neither a number nor a name (what ONNX Runtime's own optimizers leave after
    /// folding a graph with symbolic dims) must not come back as a size of -1: a MatMul whose inner
    /// size meets it would refuse the graph at load.
    /// </summary>
    [Theory]
    [InlineData("ReGelu2")]
    [InlineData("ReSilu2")]
    [InlineData("MsLayerNorm")]
    [InlineData("MsRmsNorm")]
    public void AnonymousDimensionsStayUnknown(string op)
    {
        var proto = new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float, 8, 6)
            .Input("A", TensorProto.Types.DataType.Float, 2, 5)
            .OutputUnshaped("Out", TensorProto.Types.DataType.Float)
            .OutputUnshaped("Second", op.StartsWith("Ms", StringComparison.Ordinal) ? TensorProto.Types.DataType.Float : TensorProto.Types.DataType.Uint8)
            .Node(op, ["X"], ["Y", "Second"], CustomOps.CustomOpLibrary.Domain)
            .Node("MatMul", ["A", "Y"], ["Out"])
            .Build();
        // X is [?, 6] with the first dimension anonymous; A·Y needs it to be 5 at run time.
        proto.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension();
        using var runner = new KernelRunner(proto);
        var outputs = runner.Run(
            ("X", KernelElementType.Float32.CreateTensor(TestData.Normal(30, 3), [5, 6])),
            ("A", KernelElementType.Float32.CreateTensor(TestData.Normal(10, 4), [2, 5])));
        Assert.Equal([2, 6], KernelRunner.Shape(outputs["Out"]));
    }
    public static TheoryData<string> FixtureModels() => ModelCorpus.FixtureModels();

    /// <summary>
    /// LoRA training graphs of the fixtures, batch left symbolic, before and after the rewrite, load
    /// with every optimisation level: ONNX Runtime's folding used to turn the ops' inferred shapes
    /// into a -1 that a gradient MatMul refused.
    /// </summary>
    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void SymbolicTrainingGraphsLoadAtEveryOptimizationLevel(string fixture)
    {
        var forward = OnnxMemOpt.Onnx.OnnxModel.Load(Path.Combine(SharedTestData.RepoRoot, "fixtures", "models", fixture));
        var training = OnnxMemOpt.Passes.Training.TrainingGraphBuilder.Build(forward, new OnnxMemOpt.Passes.Training.TrainingGraphOptions { Trainable = OnnxMemOpt.Passes.Training.TrainableSet.Lora });
        byte[] baseline = training.ToBytes();
        OnnxMemOpt.Passes.MemoryPasses.Run(training, OnnxMemOpt.Passes.MemoryPasses.All);
        foreach (byte[] model in new[] { baseline, training.ToBytes() })
        {
            foreach (var level in Enum.GetValues<Microsoft.ML.OnnxRuntime.GraphOptimizationLevel>())
            {
                using var options = CustomOps.CustomOpLibrary.CreateSessionOptions();
                options.GraphOptimizationLevel = level;
                using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model, options);
                Assert.Contains("loss", session.OutputMetadata.Keys);
            }
        }
    }
}
