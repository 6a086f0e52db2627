using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Corpus;

/// <summary>
/// The conformance matrix over the exporter corpus (fixtures/exported, written by
/// scripts/export_corpus.py with torch.onnx.export; no PyTorch needed here): the full matrix on
/// the opset-17 fp32 exports, the sampled one on the others (<see cref="ConformanceMatrix"/>),
/// each against <see cref="ConformanceLimits"/>. `build.ps1 conformance` runs the full matrix on
/// every model with more bench steps and writes docs/conformance.md
/// (<see cref="ConformanceReportTests"/>).
/// </summary>
[Trait("Category", "Corpus")]
public class ExporterCorpusTests(ITestOutputHelper output)
{
    public static TheoryData<string> FullTier() => [.. ConformanceMatrix.Models().Where(m => ConformanceMatrix.TierOf(m) == MatrixTier.Full)];

    public static TheoryData<string> SampledTier() => [.. ConformanceMatrix.Models().Where(m => ConformanceMatrix.TierOf(m) == MatrixTier.Sampled)];

    [Fact]
    public void CorpusHasEveryArchitectureOpsetModeAndPrecision()
    {
        var models = ConformanceMatrix.Models();
        foreach (string arch in new[] { "bert", "roberta", "vit-cls", "vit-mean", "gpt2", "llama", "clip" })
        {
            foreach (string opset in new[] { "14", "17" })
            {
                foreach (string mode in new[] { "eval", "train" })
                {
                    foreach (string precision in new[] { "fp32", "fp16" })
                    {
                        Assert.Contains($"{arch}-opset{opset}-{mode}-{precision}.onnx", models);
                    }
                }
                Assert.Contains($"{arch}-opset{opset}-eval-fp32-shared-identity.onnx", models);
            }
        }
        Assert.All(models, m => Assert.True(new FileInfo(Path.Combine(ConformanceMatrix.CorpusDirectory, m)).Length < 512 * 1024, $"{m} is over 512 KB"));
    }

    [Theory]
    [MemberData(nameof(FullTier))]
    public void EveryCommandPassesOnTheOpset17Exports(string model) => AssertGreen(ConformanceMatrix.Run(model, MatrixTier.Full));

    [Theory]
    [MemberData(nameof(SampledTier))]
    public void SampledCommandsPassOnTheOtherExports(string model) => AssertGreen(ConformanceMatrix.Run(model, MatrixTier.Sampled));

    private void AssertGreen(ConformanceRow row)
    {
        foreach (CommandOutcome command in row.Commands)
        {
            output.WriteLine($"{command.Step}: exit {command.ExitCode} ({command.Seconds:F1} s)");
        }
        foreach (TrainableSetRow set in row.Sets)
        {
            output.WriteLine($"{set.Set}: passes {string.Join(",", set.Passes)}; forward {set.ForwardMaxRelDiff:E2}; exact {set.ExactGradientMaxRelErr:E2}; method {set.MethodGradientMaxRelErr:E2}; gradcheck {set.GradcheckMaxRelErr:E2}");
        }
        IReadOnlyList<string> violations = ConformanceLimits.Violations(row);
        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations));
    }
}
