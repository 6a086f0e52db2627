using System.Text.Json;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>
/// `artifacts --rewrite`: the memory-efficient set trains from the baseline's first loss (the
/// forward is exact; only gradients are approximate) and its measured peak is below the baseline
/// set's, both from `onnxmemopt train DIR` on the same batch.
/// </summary>
public class ArtifactsRewriteTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("llama-tiny", "lora")]
    [InlineData("llama-tiny", "full")]
    public void RewrittenSetStartsFromTheBaselinesLossBelowItsPeak(string fixture, string trainable)
    {
        string model = Path.Combine(SharedTestData.RepoRoot, "fixtures", "models", fixture + ".onnx");
        using var temp = new TempDirectory();
        string baseline = temp.File("baseline");
        string rewritten = temp.File("rewritten");
        Assert.Equal(0, CliRunner.Run("artifacts", model, "-o", baseline, "--trainable", trainable).ExitCode);
        CliRunner.Result rewrite = CliRunner.Run("artifacts", model, "-o", rewritten, "--trainable", trainable, "--rewrite", "--json");
        Assert.True(rewrite.ExitCode == 0, rewrite.Stderr);
        using (JsonDocument report = JsonDocument.Parse(rewrite.Stdout))
        {
            Assert.True(report.RootElement.GetProperty("rewritten").GetBoolean());
            Assert.NotEqual(0, report.RootElement.GetProperty("rewrites").GetArrayLength());
        }

        (double[] baseLosses, long basePeak) = Train(baseline);
        (double[] newLosses, long newPeak) = Train(rewritten);
        output.WriteLine($"{fixture} {trainable}: first loss {baseLosses[0]:R} / {newLosses[0]:R}, measured peak {basePeak:N0} / {newPeak:N0} bytes");
        Assert.True(Math.Abs(newLosses[0] - baseLosses[0]) <= 1e-5 * Math.Abs(baseLosses[0]), $"first loss {newLosses[0]} vs the baseline's {baseLosses[0]}");
        Assert.True(newPeak < basePeak, $"measured peak {newPeak} is not below the baseline's {basePeak}");
        Assert.True(newLosses[^1] < newLosses[0], "the rewritten set does not train");
    }

    private static (double[] Losses, long Peak) Train(string folder)
    {
        CliRunner.Result result = CliRunner.Run("train", folder, "--steps", "3", "--batch", "2", "--seed", "5", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        return (json.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray(),
            json.RootElement.GetProperty("measured_peak_bytes").GetInt64());
    }
}
