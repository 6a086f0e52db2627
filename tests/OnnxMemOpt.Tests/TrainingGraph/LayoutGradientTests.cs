using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.TrainingGraph.RuleGradCheck;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>Finite-difference checks (float64) of the reduction, layout and indexing rules.</summary>
public sealed class LayoutGradientTests
{
    private const double Tolerance = 1e-6;

    private static void AssertGradients(TinyModel m, params string[] parameters) =>
        AssertWithin(Run(m, parameters), Tolerance);

    [Theory]
    [InlineData("ReduceMean", 1, new long[] { -1 })]
    [InlineData("ReduceMean", 0, new long[] { 0, 2 })]
    [InlineData("ReduceSum", 1, new long[] { 1 })]
    [InlineData("ReduceSum", 0, new long[] { -1, 0 })]
    public void Reductions(string op, long keepDims, long[] axes)
    {
        // Opset 17: ReduceSum takes axes as an input, ReduceMean as an attribute.
        var m = new TinyModel().Initializer(Random("X", [2, 3, 4], 1));
        m = op == "ReduceSum"
            ? m.Initializer(Ints("axes", [axes.Length], axes)).Node(op, ["X", "axes"], ["Y"], "", Attr("keepdims", keepDims))
            : m.Node(op, ["X"], ["Y"], "", Attr("axes", axes), Attr("keepdims", keepDims));
        AssertGradients(m.OutputUnshaped("Y", F64), "X");
    }

    [Fact]
    public void ReduceMeanOverAllAxesWithOldOpset()
    {
        var m = new TinyModel().Opset("", 12).Initializer(Random("X", [2, 3], 1)).Node("ReduceMean", ["X"], ["Y"], "", Attr("keepdims", 0L))
            .Node("Mul", ["Y", "X"], ["Z"]).OutputUnshaped("Z", F64);
        AssertGradients(m, "X");
    }

    [Fact]
    public void ReshapeTransposeSqueezeUnsqueezeFlattenIdentity()
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 4], 1)).Initializer(Random("W", [2, 4, 3], 2))
            .Initializer(Ints("shape", [3], [4, 3, 2])).Initializer(Ints("ax0", [1], [0])).Initializer(Ints("ax1", [1], [1]))
            .Node("Reshape", ["X", "shape"], ["R"])
            .Node("Transpose", ["R"], ["T"], "", Attr("perm", new long[] { 2, 0, 1 }))   // [2, 4, 3]
            .Node("Unsqueeze", ["T", "ax1"], ["U"])                                         // [2, 1, 4, 3]
            .Node("Squeeze", ["U", "ax1"], ["S"])                                           // [2, 4, 3]
            .Node("Mul", ["S", "W"], ["M"])
            .Node("Flatten", ["M"], ["F"], "", Attr("axis", 1L))                            // [2, 12]
            .Node("Identity", ["F"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "X", "W");
    }

    [Fact]
    public void TransposeWithDefaultPermutation()
    {
        var m = new TinyModel().Initializer(Random("X", [2, 3, 4], 1)).Initializer(Random("W", [4, 3, 2], 2))
            .Node("Transpose", ["X"], ["T"]).Node("Mul", ["T", "W"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "X", "W");
    }

    [Fact]
    public void ConcatAndSplit()
    {
        // Split's second piece does not reach the loss: its gradient is zeros.
        var m = new TinyModel().Initializer(Random("A", [2, 3], 1)).Initializer(Random("B", [2, 2], 2)).Initializer(Random("C", [2, 6], 3))
            .Initializer(Ints("sizes", [2], [1, 5]))
            .Node("Concat", ["A", "B"], ["AB"], "", Attr("axis", 1L))
            .Node("Split", ["C", "sizes"], ["C0", "C1"], "", Attr("axis", 1L))
            .Node("Mul", ["AB", "C1"], ["P"]).Node("Add", ["P", "C0"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "A", "B", "C");
    }

    [Fact]
    public void ConcatWithSymbolicSizes()
    {
        // X's axis-1 size is symbolic ("d1"), so the split sizes are gathered from shapes at run time.
        var m = new TinyModel().Input("S", TensorProto.Types.DataType.Double, 2, null)
            .Initializer(Random("A", [2, 3], 1))
            .Node("Mul", ["S", "S"], ["S2"])
            .Node("Concat", ["A", "S2"], ["Y0"], "", Attr("axis", 1L))
            .Node("Concat", ["Y0", "A"], ["Y"], "", Attr("axis", 1L)).OutputUnshaped("Y", F64);
        var result = Run(m, ["A"], setUp: c =>
        {
            c.SetInput("S", (int)F64, [2, 2], [0.5, -1, 2, 0.25]);
            c.SetInput("target", (int)F64, [2, 8], [.. Enumerable.Range(0, 16).Select(i => Math.Sin(i))]);
        });
        AssertWithin(result, Tolerance);
    }

    [Fact]
    public void SliceWithStepsAndNegativeIndices()
    {
        var m = new TinyModel().Initializer(Random("X", [4, 6], 1))
            .Initializer(Ints("starts", [2], [1, -1])).Initializer(Ints("ends", [2], [4, 0])).Initializer(Ints("axes", [2], [0, 1])).Initializer(Ints("steps", [2], [2, -2]))
            .Node("Slice", ["X", "starts", "ends", "axes", "steps"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "X");
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    public void GatherWithRepeatedIndices(long axis)
    {
        var m = new TinyModel().Initializer(Random("X", [4, 5], 1)).Initializer(Ints("idx", [2, 2], [3, 0, 3, -1]))
            .Node("Gather", ["X", "idx"], ["Y"], "", Attr("axis", axis)).OutputUnshaped("Y", F64);
        AssertGradients(m, "X");
    }

    [Fact]
    public void ExpandAndWhere()
    {
        var cond = new TensorProto { Name = "cond", DataType = (int)TensorProto.Types.DataType.Bool, RawData = Google.Protobuf.ByteString.CopyFrom(1, 0, 0, 1, 1, 0) };
        cond.Dims.AddRange([2, 3]);
        var m = new TinyModel().Initializer(Random("X", [3, 1], 1)).Initializer(Random("A", [1, 3], 2)).Initializer(Random("B", [3], 3))
            .Initializer(Ints("shape", [3], [2, 3, 3])).Initializer(cond)
            .Node("Expand", ["X", "shape"], ["E"])                 // [2, 3, 3]
            .Node("Where", ["cond", "A", "B"], ["W"])              // [2, 3]
            .Node("Unsqueeze", ["W", "axes"], ["W3"])              // [2, 1, 3]
            .Initializer(Ints("axes", [1], [1]))
            .Node("Mul", ["E", "W3"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "X", "A", "B");
    }

    [Fact]
    public void CastRoundTripAndTrilu()
    {
        var m = new TinyModel().Initializer(Random("X", [3, 3], 1))
            .Node("Cast", ["X"], ["F"], "", Attr("to", (long)TensorProto.Types.DataType.Float))
            .Node("Cast", ["F"], ["D"], "", Attr("to", (long)TensorProto.Types.DataType.Double))
            .Node("Trilu", ["D"], ["Y"], "", Attr("upper", 0L)).OutputUnshaped("Y", F64);
        // The float32 round trip limits the loss's precision: a float32 tolerance applies.
        AssertWithin(Run(m, ["X"]), 1e-3);
    }

    [Fact]
    public void DropoutInInferenceAndTrainingMode()
    {
        // Ratio 0 in training mode: DropoutGrad with an all-true mask; without training_mode: identity.
        var training = new TensorProto { Name = "training", DataType = (int)TensorProto.Types.DataType.Bool, RawData = Google.Protobuf.ByteString.CopyFrom(1) };
        var m = new TinyModel().Initializer(Random("X", [2, 3], 1)).Initializer(Random("ratio", [], 0, min: 0, max: 0)).Initializer(training)
            .Node("Dropout", ["X"], ["D0"])
            .Node("Dropout", ["D0", "ratio", "training"], ["Y"]).OutputUnshaped("Y", F64);
        AssertGradients(m, "X");
    }
}
