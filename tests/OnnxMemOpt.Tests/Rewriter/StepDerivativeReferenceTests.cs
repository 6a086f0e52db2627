using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Patterns;
using Xunit.Abstractions;
using static OnnxMemOpt.Tests.Rewriter.TrainingGraphs;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// ReGELU2/ReSiLU2 gradients differ from the exact ones by design; these tests pin down that the
/// difference is the method's and nothing else: every gradient of a rewritten graph equals, to
/// float32 rounding, the original graph whose GELU/SiLU derivative nodes are replaced by the
/// published step derivative written in standard ONNX ops (an independent implementation: no
/// project kernel runs in the reference).
/// </summary>
public class StepDerivativeReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<Norm, Activation, string, string> Cases() => new()
    {
        { Norm.LayerNorm, Activation.Gelu, "regelu2", GeluTables.Yang2024 },
        { Norm.LayerNorm, Activation.Gelu, "regelu2,msln", GeluTables.Yang2024 },
        { Norm.LayerNorm, Activation.FastGelu, "regelu2,msln", GeluTables.Yang2024 },
        { Norm.RmsNorm, Activation.QuickGelu, "resilu2,msrms", GeluTables.Yang2024 },
        { Norm.RmsNorm, Activation.SiluUnfused, "resilu2", GeluTables.Yang2024 },
        { Norm.LayerNorm, Activation.Gelu, "regelu2", GeluTables.FewBit },
        { Norm.LayerNorm, Activation.FastGelu, "regelu2,msln", GeluTables.FewBit },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RewrittenGradientsEqualTheMethodsStepDerivative(Norm norm, Activation activation, string passes, string geluTable)
    {
        var proto = Build(norm, activation, trainableAffine: false);
        OnnxModel original = OnnxModel.FromProto(proto.Clone());
        OnnxModel rewritten = OnnxModel.FromProto(proto.Clone());
        PassResult result = MemoryPasses.Run(rewritten, passes.Split(','), options: new RewriteOptions { GeluTable = geluTable });
        Assert.Equal(passes.Split(',').Length, result.Rewrites.Count);
        // The paper's table is the ops' default and is not written; another one is, on both ops.
        Assert.All(rewritten.Graph.Nodes.Where(n => n.OpType is "ReGelu2" or "ReGelu2Grad"),
            n => Assert.Equal(geluTable == GeluTables.Yang2024 ? null : geluTable, n.Attribute("table")?.S.ToStringUtf8()));

        StepDerivativeReference reference = StepDerivativeReferenceBuilder.Build(original, rewritten);
        Assert.Null(reference.Reason);
        Assert.Equal(1, reference.Replaced);
        Assert.DoesNotContain(reference.Model!.Graph.Nodes, n => n.Domain == "com.onnxmemopt");

        var feeds = UnitVarianceFeeds(rewritten.Proto, seed: 11);
        var exact = ModelFeeds.Run(original.ToBytes(), feeds);
        var method = ModelFeeds.Run(reference.Model.ToBytes(), feeds);
        var actual = ModelFeeds.Run(rewritten.ToBytes(), feeds);
        bool someGradientDiffers = false;
        foreach (string name in exact.Keys.Where(k => k.EndsWith("_grad", StringComparison.Ordinal)))
        {
            double versusExact = OnnxMemOpt.Runtime.Verification.GradientComparison.RelativeError(exact[name], actual[name]);
            double versusMethod = OnnxMemOpt.Runtime.Verification.GradientComparison.RelativeError(method[name], actual[name]);
            output.WriteLine($"{name}: vs exact {versusExact:E2}, vs step derivative {versusMethod:E2}");
            Assert.True(versusMethod <= 1e-5, $"{name}: {versusMethod:E3} from the method's reference");
            someGradientDiffers |= versusExact > 1e-3;
        }
        // The reference is not the exact graph in disguise: the approximation shows against it.
        Assert.True(someGradientDiffers, "no gradient moved: the inputs did not exercise the step table");
    }

    /// <summary>
    /// Few-Bit Backward's table is fitted to GELU′ itself, the paper's to GELU: on the one-layer graph
    /// the few-bit gradients lie closer to the exact ones (measured on MiniLM LoRA q,v: gradient
    /// cosines median 0.98 and minimum 0.92, against 0.84 and 0.53 with the paper's table).
    /// </summary>
    [Fact]
    public void FewBitTableFollowsTheExactGradientMoreClosely()
    {
        var proto = Build(Norm.LayerNorm, Activation.Gelu, trainableAffine: false);
        var feeds = UnitVarianceFeeds(proto, seed: 11);
        var exact = ModelFeeds.Run(Google.Protobuf.MessageExtensions.ToByteArray(proto), feeds);
        double WorstError(string table)
        {
            OnnxModel rewritten = OnnxModel.FromProto(proto.Clone());
            MemoryPasses.Run(rewritten, ["regelu2"], options: new RewriteOptions { GeluTable = table });
            var actual = ModelFeeds.Run(rewritten.ToBytes(), feeds);
            return exact.Keys.Where(k => k.EndsWith("_grad", StringComparison.Ordinal))
                .Max(k => OnnxMemOpt.Runtime.Verification.GradientComparison.RelativeError(exact[k], actual[k]));
        }
        double paper = WorstError(GeluTables.Yang2024), fewBit = WorstError(GeluTables.FewBit);
        output.WriteLine($"worst gradient relative error: paper's table {paper:E3}, few-bit table {fewBit:E3}");
        Assert.True(fewBit < paper, $"few-bit {fewBit:E3} vs paper {paper:E3}");
    }

    [Fact]
    public void AGraphWithoutTwoBitGradientsNeedsNoReplacement()
    {
        var proto = Build(Norm.LayerNorm, Activation.Gelu, trainableAffine: false);
        OnnxModel rewritten = OnnxModel.FromProto(proto.Clone());
        MemoryPasses.Run(rewritten, ["msln"]);
        StepDerivativeReference reference = StepDerivativeReferenceBuilder.Build(OnnxModel.FromProto(proto.Clone()), rewritten);
        Assert.Equal(0, reference.Replaced);
        Assert.Null(reference.Reason);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(1.702)]
    [InlineData(0.3)]
    public void FloatThresholdsKeepTheStrictComparisonOfTheExactConstant(double alpha)
    {
        foreach (TwoBitStepTable table in new[] { TwoBitStepTable.Gelu, TwoBitStepTable.Silu })
        {
            for (int i = 0; i < 3; i++)
            {
                double c = table.Thresholds[i] / alpha;
                float t = table.FloatThreshold(i, alpha);
                // t is the largest float not above c: x > t in float ⇔ x > c exactly, for every float x.
                Assert.True(t <= c);
                Assert.True(MathF.BitIncrement(t) > c);
            }
        }
    }
}
