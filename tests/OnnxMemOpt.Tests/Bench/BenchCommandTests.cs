using OnnxMemOpt.Runtime.Bench;
using System.Text.Json.Nodes;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Bench;

/// <summary>`bench` on tiny presets: both configurations run and the JSON is self-consistent.</summary>
public class BenchCommandTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("vit-tiny", "lora-qv")]
    [InlineData("llama-tiny", "lora-all")]
    public void TinyPresetReportsBothConfigurationsConsistently(string preset, string trainable)
    {
        CliRunner.Result result = CliRunner.Run("bench", "--preset", preset, "--trainable", trainable, "--steps", "3", "--json");
        output.WriteLine(result.Stderr);
        Assert.Equal(0, result.ExitCode);
        JsonObject json = JsonNode.Parse(result.Stdout)!.AsObject();
        output.WriteLine(json.ToJsonString());
        JsonObject baseline = json["baseline"]!.AsObject(), rewritten = json["rewritten"]!.AsObject();
        foreach (JsonObject configuration in new[] { baseline, rewritten })
        {
            foreach (string key in new[] { "measured_peak_bytes", "estimated_peak_bytes", "saved_activation_bytes", "median_step_ms", "final_loss" })
            {
                Assert.NotNull(configuration[key]);
            }
            Assert.True((long)configuration["measured_peak_bytes"]! > 0);
            JsonArray losses = configuration["losses"]!.AsArray();
            Assert.Equal(3, losses.Count);
            Assert.Equal((float)configuration["final_loss"]!, (float)losses[^1]!);
        }
        Assert.Equal((double)(long)rewritten["measured_peak_bytes"]! / (long)baseline["measured_peak_bytes"]!, (double)json["peak_ratio"]!, 9);
        Assert.Equal((double)rewritten["median_step_ms"]! / (double)baseline["median_step_ms"]!, (double)json["time_ratio"]!, 9);
        // Same data, same seeds, exact forward: the first step's loss agrees before any approximate gradient acts.
        Assert.Equal((float)baseline["losses"]![0]!, (float)rewritten["losses"]![0]!, 4);
        // The rewrite ran and kept less for backward.
        Assert.NotEmpty(json["rewrites"]!.AsObject());
        Assert.True((long)rewritten["saved_activation_bytes"]! < (long)baseline["saved_activation_bytes"]!);
    }

    [Fact]
    public void UsageErrors()
    {
        Assert.Equal(2, CliRunner.Run("bench").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--preset", "nope").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--preset", "vit-tiny", "--steps", "0").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--preset", "vit-tiny", "--passes", "regelu2,nope").ExitCode);
        // The spam task is MiniLM's; variants come from the study's catalog.
        Assert.Equal(2, CliRunner.Run("bench", "--preset", "vit-tiny", "--task", "spam").ExitCode);
        Assert.Equal(2, CliRunner.Run("bench", "--preset", "minilm", "--task", "spam", "--variants", "regelu2,nope").ExitCode);
    }

    /// <summary>
    /// The accuracy study's form: several rewrites beside one baseline, on the demo's data, each
    /// report with the same baseline run, its own passes and tables, held-out figures, and for
    /// calibrated tables the fitted thresholds and levels.
    /// </summary>
    [Fact]
    public void SpamTaskTrainsEveryVariantBesideOneBaseline()
    {
        CliRunner.Result result = CliRunner.Run("bench", "--preset", "minilm", "--task", "spam", "--trainable", "lora-qv", "--variants", "msln,regelu2-calibrated",
            "--steps", "2", "--batch", "4", "--seq", "16", "--eval-examples", "8", "--eval-every", "0", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var variants = System.Text.Json.Nodes.JsonNode.Parse(result.Stdout)!["variants"]!.AsArray();
        Assert.Equal(["msln", "regelu2-calibrated"], variants.Select(v => (string?)v!["variant"]));
        Assert.Equal((double)variants[0]!["baseline"]!["eval_loss"]!, (double)variants[1]!["baseline"]!["eval_loss"]!);
        Assert.All(variants, v => Assert.Equal(8, (int)v!["data"]!["eval_examples"]!));
        Assert.Empty(variants[0]!["calibrated"]!.AsArray());
        var calibrated = variants[1]!["calibrated"]!.AsArray();
        Assert.Equal(6, calibrated.Count);
        Assert.All(calibrated, c => Assert.True((double)c!["expected_dx_cosine"]! > (double)c["expected_dx_cosine_replaced"]!, c.ToJsonString()));
        Assert.All(variants[1]!["activations"]!.AsArray(), a => Assert.Equal("calibrated", (string?)a!["table"]));
    }

    /// <summary>
    /// --passes picks the rewritten configuration's passes: the paper's four alone on the LLaMA
    /// fixture leave the SwiGLU product kept; all passes recompute it and keep less.
    /// </summary>
    [Fact]
    public void PassesOptionChoosesTheRewrittenConfigurationsPasses()
    {
        JsonObject Bench(params string[] extra)
        {
            CliRunner.Result result = CliRunner.Run(["bench", "--preset", "llama-tiny", "--trainable", "lora-all", "--steps", "1", "--json", .. extra]);
            Assert.Equal(0, result.ExitCode);
            return JsonNode.Parse(result.Stdout)!.AsObject();
        }
        JsonObject paper = Bench("--passes", "fuse,regelu2,resilu2,msln,msrms");
        JsonObject all = Bench();
        output.WriteLine($"paper's passes: {paper["rewrites"]!.ToJsonString()}; all: {all["rewrites"]!.ToJsonString()}");
        Assert.Null(paper["rewrites"]!["recompute"]);
        Assert.Equal(2, (int)all["rewrites"]!["recompute"]!);
        Assert.Equal((long)paper["baseline"]!["saved_activation_bytes"]!, (long)all["baseline"]!["saved_activation_bytes"]!);
        Assert.True((long)all["rewritten"]!["saved_activation_bytes"]! < (long)paper["rewritten"]!["saved_activation_bytes"]!);
    }

    /// <summary>
    /// Loss parity on a small model: 100 LoRA steps of a 4-block ViT fixture, baseline and rewritten,
    /// end within 2 % of each other (ReGELU2's approximate gradient is the only difference).
    /// </summary>
    [Fact]
    public void HundredLoraStepsOnAFourBlockVitEndWithinTwoPercent()
    {
        using var temp = new TempDirectory();
        BenchModel model = BenchPresets.Create("vit-tiny", new BenchSizes(Batch: 8, Blocks: 4), temp.Path);
        TrainingGraphOptions options = TrainableSets.Options("lora-qv", model, loraRank: 4, loraAlpha: 8, seed: 42);
        var settings = new BenchSettings { Steps = 100, LearningRate = 3e-3f, WarmupSteps = 10, MemoryPattern = false };
        BenchOutcome outcome = BenchRunner.Run(model, "lora-qv", options, settings, temp.Path);
        output.WriteLine($"final loss {outcome.Baseline.FinalLoss} vs {outcome.Rewritten.FinalLoss}; first {outcome.Baseline.Run.Losses[0]}; peak ratio {outcome.PeakRatio:F3}");
        Assert.True(outcome.Baseline.FinalLoss < 0.8 * outcome.Baseline.Run.Losses[0], "the baseline did not learn");
        Assert.True(outcome.FinalLossRelativeDifference < 0.02, $"final losses {outcome.Baseline.FinalLoss} and {outcome.Rewritten.FinalLoss}");
    }
}
