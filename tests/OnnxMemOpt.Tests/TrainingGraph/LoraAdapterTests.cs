using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.TrainingGraph.RuleGradCheck;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>LoRA adapters on Gemm, MatMul and torch's MatMul(x, Transpose(W)): shapes, initial values, scale and gradients.</summary>
public sealed class LoraAdapterTests
{
    private static TinyModel Layers() => new TinyModel()
        .Input("x", TensorProto.Types.DataType.Double, 2, 4)
        .Initializer(Random("gemm.weight", [5, 4], 1)).Initializer(Random("gemm.bias", [5], 2))
        .Initializer(Random("mm.weight", [5, 3], 3))
        .Initializer(Random("torch.weight", [2, 3], 4))
        .Node("Gemm", ["x", "gemm.weight", "gemm.bias"], ["h"], "", Attr("transB", 1L))      // [2, 5]
        .Node("MatMul", ["h", "mm.weight"], ["g"])                                            // [2, 3]
        .Node("Transpose", ["torch.weight"], ["torch.weight_T"], "", Attr("perm", new long[] { 1, 0 }))
        .Node("MatMul", ["g", "torch.weight_T"], ["y"])                                       // [2, 2]
        .Node("Tanh", ["y"], ["out"]).OutputUnshaped("out", F64);

    [Theory]
    [InlineData(TrainableSet.Lora)]
    [InlineData(TrainableSet.LoraFa)]
    public void AdaptersHaveTheLayerShapesAndMatchFiniteDifferences(TrainableSet set)
    {
        OnnxModel forward = OnnxModel.FromProto(Layers().Build(), "lora-layers");
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(forward, new TrainingGraphOptions
        {
            Loss = LossKind.MeanSquaredError, Trainable = set, LoraRank = 2, LoraAlpha = 6,
        });
        Assert.Equal([(4L, 5L), (5L, 3L), (3L, 2L)], result.Adapters.Select(a => (a.In, a.Out)).ToArray());
        Assert.Equal(["gemm.weight", "mm.weight", "torch.weight"], result.Adapters.Select(a => a.Weight).ToArray());
        OnnxGraph graph = result.Model.Graph;
        foreach (var adapter in result.Adapters)
        {
            // A: uniform in ±1/√in; B: zeros, so the adapted model starts equal to the original.
            double[] a = TensorData.ToDoubles(graph.Initializer(adapter.A)!);
            Assert.All(a, v => Assert.InRange(Math.Abs(v), 0, 1 / Math.Sqrt(adapter.In)));
            Assert.All(TensorData.ToDoubles(graph.Initializer(adapter.B)!), v => Assert.Equal(0.0, v));
            Assert.Equal(set == TrainableSet.Lora, result.Parameters.Contains(adapter.A));
            Assert.Contains(adapter.B, result.Parameters);
        }
        // The update is scaled by alpha / r = 3.
        Assert.Contains(graph.Initializers.Values, t => t.Dims.Count == 0 && t.DataType == (int)F64 && TensorData.ToDoubles(t)[0] == 3.0);

        using var checker = new GradientChecker(result.Model, seed: 9, randomizeZeroParameters: 0.3);
        var elements = result.Parameters
            .SelectMany(p => Enumerable.Range(0, (int)Math.Min(6, TensorData.ElementCount(graph.Initializer(p)!))).Select(i => (p, (long)i)))
            .ToList();
        AssertWithin(checker.Check(elements), 1e-6);
    }

    [Fact]
    public void WeightsListedAsGraphInputsTrainInFull()
    {
        // Old exporters list initializers among the graph inputs too: they are still the weights.
        ModelProto proto = Layers().Build();
        proto.Graph.Input.Add(new ValueInfoProto
        {
            Name = "mm.weight",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)F64, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 5 }, new TensorShapeProto.Types.Dimension { DimValue = 3 } } } } },
        });
        TrainingGraphResult result = TrainingGraphBuilder.BuildWithReport(OnnxModel.FromProto(proto, "inputs-as-weights"), new TrainingGraphOptions { Loss = LossKind.MeanSquaredError });
        Assert.Contains("mm.weight", result.Parameters);
        Assert.Single(result.Model.Proto.Graph.Input, i => i.Name == "mm.weight");
        using var checker = new GradientChecker(result.Model, seed: 5);
        AssertWithin(checker.Check([("mm.weight", 0), ("mm.weight", 7), ("gemm.weight", 3)]), 1e-6);
    }
}
