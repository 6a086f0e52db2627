using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.TrainingGraph.RuleGradCheck;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>Finite-difference checks (float64) of the linear-algebra and elementwise arithmetic rules, with broadcasting.</summary>
public sealed class ArithmeticGradientTests
{
    private const double Tolerance = 1e-6;
    private const double Float32Tolerance = 2e-3;

    [Theory]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 4, 5 })]          // linear layer: 3-D activations, 2-D weight
    [InlineData(new long[] { 2, 1, 3, 4 }, new long[] { 3, 4, 2 })]    // batch axes broadcast both ways
    [InlineData(new long[] { 3, 4 }, new long[] { 2, 4, 5 })]          // A broadcast over B's batch
    public void MatMul(long[] a, long[] b)
    {
        var m = new TinyModel().Initializer(Random("A", a, 1)).Initializer(Random("B", b, 2))
            .Node("MatMul", ["A", "B"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A", "B"]), Tolerance);
    }

    [Theory]
    [InlineData(0, 0, new long[] { 5 })]
    [InlineData(1, 1, new long[] { 1, 5 })]
    [InlineData(1, 0, new long[] { 3, 1 })]
    [InlineData(0, 1, new long[] { 3, 5 })]
    public void Gemm(long transA, long transB, long[] c)
    {
        long[] a = transA == 1 ? [4, 3] : [3, 4];
        long[] b = transB == 1 ? [5, 4] : [4, 5];
        var m = new TinyModel().Initializer(Random("A", a, 1)).Initializer(Random("B", b, 2)).Initializer(Random("C", c, 3))
            .Node("Gemm", ["A", "B", "C"], ["Y"], "", Attr("transA", transA), Attr("transB", transB), Attr("alpha", 0.7f), Attr("beta", 1.3f))
            .OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A", "B", "C"]), Tolerance);
    }

    [Theory]
    [InlineData("Add", new long[] { 2, 3, 4 }, new long[] { 4 })]
    [InlineData("Add", new long[] { 2, 3, 4 }, new long[] { 3, 1 })]
    [InlineData("Sub", new long[] { 2, 3 }, new long[] { 2, 1 })]
    [InlineData("Sub", new long[] { 1, 3 }, new long[] { 2, 1 })]
    [InlineData("Mul", new long[] { 2, 3, 4 }, new long[] { 1, 3, 1 })]
    [InlineData("Mul", new long[] { 4 }, new long[] { 2, 3, 4 })]
    [InlineData("Div", new long[] { 2, 3 }, new long[] { 3 })]
    [InlineData("Div", new long[] { 1, 3 }, new long[] { 2, 1 })]
    public void BroadcastingBinary(string op, long[] a, long[] b)
    {
        // Divisors stay in [0.5, 1.5]: far from the pole at 0.
        var m = new TinyModel().Initializer(Random("A", a, 1)).Initializer(op == "Div" ? Random("B", b, 2, min: 0.5, max: 1.5) : Random("B", b, 2))
            .Node(op, ["A", "B"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A", "B"]), Tolerance);
    }

    [Fact]
    public void PowWithConstantSquare()
    {
        var m = new TinyModel().Initializer(Random("A", [2, 3], 1)).Initializer(Random("two", [], 0, min: 2, max: 2))
            .Node("Pow", ["A", "two"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A"]), Tolerance);
    }

    [Fact]
    public void PowWithTrainableExponent()
    {
        var m = new TinyModel().Initializer(Random("A", [2, 3], 1, min: 0.5, max: 2)).Initializer(Random("B", [3], 2, min: 0.5, max: 3))
            .Node("Pow", ["A", "B"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A", "B"]), Tolerance);
    }

    [Theory]
    [InlineData("Sqrt")]
    [InlineData("Neg")]
    [InlineData("Erf")]
    [InlineData("Tanh")]
    [InlineData("Sigmoid")]
    [InlineData("Relu")]
    [InlineData("Exp")]
    [InlineData("Log")]
    [InlineData("Reciprocal")]
    public void Unary(string op)
    {
        bool positive = op is "Sqrt" or "Log" or "Reciprocal";
        // ONNX Runtime's CPU Erf has no float64 kernel: that one is checked in float32.
        var type = op == "Erf" ? F32 : F64;
        var m = new TinyModel().Initializer(positive ? Random("X", [2, 3, 4], 1, type, min: 0.5, max: 2) : Random("X", [2, 3, 4], 1, type, min: -2, max: 2))
            .Node(op, ["X"], ["Y"]);
        m = type == F32 ? m.WithFloat64Output("Y") : m.OutputUnshaped("Y", type);
        AssertWithin(Run(m, ["X"]), type == F32 ? Float32Tolerance : Tolerance);
    }

    [Theory]
    [InlineData("Min")]
    [InlineData("Max")]
    public void MinMaxRouteTheGradientToTheSelectedInput(string op)
    {
        // Values at least 0.2 apart, so that no finite-difference step crosses a switch of the selection.
        var m = new TinyModel()
            .Initializer(global::OnnxMemOpt.Onnx.TensorData.Create("A", (int)F64, [2, 3], [-0.9, 0.4, 0.8, 0.3, -0.6, 0.95]))
            .Initializer(global::OnnxMemOpt.Onnx.TensorData.Create("B", (int)F64, [3], [0.1, -0.2, 0.5]))
            .Node(op, ["A", "B"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["A", "B"]), Tolerance);
    }

    [Fact]
    public void AbsAndClip()
    {
        var m = new TinyModel().Initializer(Random("X", [3, 4], 1, min: -2, max: 2))
            .Initializer(Random("lo", [], 0, min: -0.55, max: -0.55)).Initializer(Random("hi", [], 0, min: 0.65, max: 0.65))
            .Node("Clip", ["X", "lo", "hi"], ["C"]).Node("Abs", ["X"], ["A"]).Node("Mul", ["C", "A"], ["Y"]).OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["X"]), Tolerance);
    }

    [Fact]
    public void SharedValueGradientsAreSummed()
    {
        // X feeds three consumers: its gradient is the Sum of three contributions.
        var m = new TinyModel().Initializer(Random("X", [2, 3], 1)).Initializer(Random("W", [3, 3], 2))
            .Node("MatMul", ["X", "W"], ["P"]).Node("Mul", ["X", "P"], ["Q"]).Node("Add", ["Q", "X"], ["Y"])
            .OutputUnshaped("Y", F64);
        AssertWithin(Run(m, ["X", "W"]), Tolerance);
    }

    [Fact]
    public void SymbolicBroadcastUsesBroadcastGradientArgs()
    {
        // A is [2, d1] and B is [2, e1]: whether either broadcasts is only known at run time
        // (here A is [2, 1] against B's [2, 3]), so the reduction goes through BroadcastGradientArgs.
        var m = new TinyModel().Input("S1", TensorProto.Types.DataType.Double, 2, null).Input("S2", TensorProto.Types.DataType.Double, 2, null)
            .Initializer(Random("P", [1], 1)).Initializer(Random("Q", [1], 2))
            .Node("Mul", ["S1", "P"], ["A"]).Node("Mul", ["S2", "Q"], ["B"])
            .Node("Add", ["A", "B"], ["Y"]).OutputUnshaped("Y", F64);
        ModelProto proto = m.Build();
        proto.Graph.Input[1].Type.TensorType.Shape.Dim[1].DimParam = "e1";
        var result = Run(proto, ["P", "Q"], setUp: c =>
        {
            c.SetInput("S1", (int)F64, [2, 1], [0.5, -1.5]);
            c.SetInput("S2", (int)F64, [2, 3], [1, 2, 3, -1, -2, 0.5]);
            c.SetInput("target", (int)F64, [2, 3], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        }, expectOp: "BroadcastGradientArgs");
        AssertWithin(result, Tolerance);
    }
}
