using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>The pattern engine's behaviours, each on a graph built for it.</summary>
public class PatternEngineTests
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    private static OnnxModel Model(Action<TinyModel> nodes, long opset = 17)
    {
        var model = new TinyModel().Opset("", opset).Input("x", F, 2, 8).Output("y", F, 2, 8);
        nodes(model);
        return OnnxModel.FromProto(model.Build());
    }

    private static TensorProto Scalar(string name, float value) => FloatTensor(name, [], [value]);

    [Fact]
    public void CommutativeInputsMatchInEitherOrder()
    {
        // σ(x)·x, the operands the other way round from the pattern x·σ(x).
        OnnxModel model = Model(m => m.Node("Sigmoid", ["x"], ["s"]).Node("Mul", ["s", "x"], ["y"]));
        PassResult result = FusionPass.Run(model);
        Assert.Equal("silu", Assert.Single(result.Rewrites).Rule);
        Assert.Equal(["QuickGelu"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(1.0f, model.Graph.Nodes[0].GetFloat("alpha", 0));
    }

    [Fact]
    public void ScaledSigmoidCarriesItsAlpha()
    {
        OnnxModel model = Model(m => m.Initializer(Scalar("a", 1.702f)).Node("Mul", ["x", "a"], ["xa"]).Node("Sigmoid", ["xa"], ["s"]).Node("Mul", ["x", "s"], ["y"]));
        FusionPass.Run(model);
        Assert.Equal(1.702f, Assert.Single(model.Graph.Nodes).GetFloat("alpha", 0));
    }

    [Theory]
    [InlineData(0.70710677f, true)]
    [InlineData(0.7071f, true)]
    [InlineData(0.75f, false)]
    public void ConstantsMatchByValueWithinTolerance(float invSqrt2, bool fuses)
    {
        OnnxModel model = Model(m => m
            .Initializer(Scalar("k", invSqrt2)).Initializer(Scalar("one", 1f)).Initializer(Scalar("half", 0.5f))
            .Node("Mul", ["x", "k"], ["t"]).Node("Erf", ["t"], ["e"]).Node("Add", ["one", "e"], ["p"])
            .Node("Mul", ["p", "x"], ["q"]).Node("Mul", ["half", "q"], ["y"]));
        PassResult result = FusionPass.Run(model);
        Assert.Equal(fuses ? 1 : 0, result.Rewrites.Count);
        Assert.Equal(fuses, model.Graph.Nodes.Any(n => n.Is("Gelu", "com.microsoft")));
        // Constants only the fused chain read are gone with it.
        Assert.Equal(fuses ? 0 : 3, model.Proto.Graph.Initializer.Count);
    }

    [Fact]
    public void GeluBecomesTheStandardOpFromOpset20()
    {
        OnnxModel model = Model(m => m
            .Initializer(Scalar("k", 1.4142135f)).Initializer(Scalar("one", 1f)).Initializer(Scalar("half", 0.5f))
            .Node("Div", ["x", "k"], ["t"]).Node("Erf", ["t"], ["e"]).Node("Add", ["e", "one"], ["p"])
            .Node("Mul", ["x", "half"], ["h"]).Node("Mul", ["h", "p"], ["y"]), opset: 20);
        FusionPass.Run(model);
        Assert.True(Assert.Single(model.Graph.Nodes).Is("Gelu"));
    }

    [Fact]
    public void IntermediateValueReadElsewhereRefusesWithTheReason()
    {
        OnnxModel model = Model(m => m.Output("s", F, 2, 8).Node("Sigmoid", ["x"], ["s"]).Node("Mul", ["x", "s"], ["y"]));
        byte[] before = model.ToBytes();
        PassResult result = FusionPass.Run(model);
        Assert.Empty(result.Rewrites);
        SkipRecord skip = Assert.Single(result.Skipped);
        Assert.Contains("graph output", skip.Reason, StringComparison.Ordinal);
        Assert.Equal(before, model.ToBytes());
    }

    [Fact]
    public void RmsNormWithReciprocalAndCastFusesAndLayerNormTailIsNotTakenForRmsNorm()
    {
        OnnxModel rms = Model(m => m
            .Initializer(Scalar("two", 2f)).Initializer(Scalar("eps", 1e-6f)).Initializer(FloatTensor("g", [8], Enumerable.Repeat(1.5f, 8).ToArray()))
            .Node("Pow", ["x", "two"], ["sq"]).Node("ReduceMean", ["sq"], ["ms"], "", Attr("axes", new long[] { -1 }))
            .Node("Add", ["ms", "eps"], ["v"]).Node("Sqrt", ["v"], ["r"]).Node("Reciprocal", ["r"], ["ir"])
            .Node("Mul", ["x", "ir"], ["n"]).Node("Cast", ["n"], ["nc"], "", Attr("to", 1L)).Node("Mul", ["g", "nc"], ["y"]));
        FusionPass.Run(rms);
        var fused = Assert.Single(rms.Graph.Nodes);
        Assert.True(fused.Is("SimplifiedLayerNormalization"));
        Assert.Equal(1e-6f, fused.GetFloat("epsilon", 0));

        OnnxModel layerNorm = Model(m => m
            .Initializer(Scalar("two", 2f)).Initializer(Scalar("eps", 1e-5f))
            .Initializer(FloatTensor("g", [8], Enumerable.Repeat(1f, 8).ToArray())).Initializer(FloatTensor("b", [8], Enumerable.Repeat(0f, 8).ToArray()))
            .Node("ReduceMean", ["x"], ["mu"], "", Attr("axes", new long[] { -1 })).Node("Sub", ["x", "mu"], ["d"])
            .Node("Mul", ["d", "d"], ["sq"]).Node("ReduceMean", ["sq"], ["var"], "", Attr("axes", new long[] { -1 }))
            .Node("Add", ["var", "eps"], ["v"]).Node("Sqrt", ["v"], ["r"]).Node("Div", ["d", "r"], ["n"])
            .Node("Mul", ["n", "g"], ["s"]).Node("Add", ["s", "b"], ["y"]));
        PassResult result = FusionPass.Run(layerNorm);
        Assert.Equal("layer-norm", Assert.Single(result.Rewrites).Rule);
        Assert.True(Assert.Single(layerNorm.Graph.Nodes).Is("LayerNormalization"));
    }

    [Fact]
    public void NonTrailingAxesAreRefusedWithTheReason()
    {
        OnnxModel model = Model(m => m
            .Initializer(Scalar("two", 2f)).Initializer(Scalar("eps", 1e-6f)).Initializer(FloatTensor("g", [8], Enumerable.Repeat(1f, 8).ToArray()))
            .Node("Pow", ["x", "two"], ["sq"]).Node("ReduceMean", ["sq"], ["ms"], "", Attr("axes", new long[] { 0 }))
            .Node("Add", ["ms", "eps"], ["v"]).Node("Sqrt", ["v"], ["r"]).Node("Div", ["x", "r"], ["n"]).Node("Mul", ["n", "g"], ["y"]));
        PassResult result = FusionPass.Run(model);
        Assert.Empty(result.Rewrites);
        Assert.Contains("not the trailing axes", Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
    }
    [Fact]
    public void ChainThatBroadcastsItsInputIsNotFused()
    {
        // An RMSNorm chain over a last axis of length 1 times a [8] scale yields [2, 8], which the
        // fused op (output shaped like x, scale covering x's last axis) cannot: ONNX Runtime refuses
        // the fused graph at load. Such a chain must stay as written, with the reason.
        var proto = new TinyModel().Opset("", 17).Input("x", F, 2, 1).Output("y", F, 2, 8)
            .Initializer(Scalar("two", 2f)).Initializer(Scalar("eps", 1e-6f)).Initializer(FloatTensor("g", [8], Enumerable.Range(1, 8).Select(i => i / 4f).ToArray()))
            .Node("Pow", ["x", "two"], ["sq"]).Node("ReduceMean", ["sq"], ["ms"], "", Attr("axes", new long[] { -1 }))
            .Node("Add", ["ms", "eps"], ["v"]).Node("Sqrt", ["v"], ["r"]).Node("Div", ["x", "r"], ["n"]).Node("Mul", ["n", "g"], ["y"])
            .Build();
        OnnxModel model = OnnxModel.FromProto(proto);
        PassResult result = FusionPass.Run(model);
        Assert.Empty(result.Rewrites);
        Assert.Contains("broadcasts 'x' [2,1] to [2,8]", Assert.Single(result.Skipped).Reason, StringComparison.Ordinal);
        using var session = OrtRunner.CreateSession(model.ToBytes());
    }
}
