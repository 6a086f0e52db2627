using System.Text.Json;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>The `rewrite`, `fuse` and `inspect` commands' contract: JSON keys, report file, idempotence, exit codes.</summary>
public class RewriteCommandTests
{
    private static readonly string[] GeluDims = ["--dim", "input1_dim0=64", "--dim", "input1_dim1=784"];

    [SkippableFact]
    public void RewriteReportsSubstitutionsAndMemoryAndWritesTheSameJsonToTheReport()
    {
        string input = SharedTestData.RequireFile("ort-training/recompute_gelu.onnx");
        using var temp = new TempDirectory();
        string output = temp.File("out.onnx");
        string report = temp.File("report.json");
        CliRunner.Result result = CliRunner.Run(["rewrite", input, "-o", output, "--json", "--report", report, .. GeluDims]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        JsonElement root = json.RootElement;
        // ReGELU2, and leaf-order placing the gradient leaves for ONNX Runtime's order.
        var rewrites = root.GetProperty("rewrites").EnumerateArray().ToList();
        Assert.Equal(["regelu2", "leaf-order"], rewrites.Select(r => r.GetProperty("pass").GetString()));
        JsonElement rewrite = rewrites[0];
        Assert.Equal("regelu2", rewrite.GetProperty("pass").GetString());
        // The GELU input is [64, 500] float32 (128,000 bytes); its code is 8,000 bytes.
        Assert.Equal(128_000 - 8_000, rewrite.GetProperty("saved_bytes").GetInt64());
        Assert.Equal(JsonValueKind.Array, root.GetProperty("skipped").ValueKind);
        foreach (string key in new[] { "memory_before", "memory_after" })
        {
            JsonElement memory = root.GetProperty(key);
            Assert.True(memory.TryGetProperty("saved_activation_bytes", out _));
            Assert.True(memory.TryGetProperty("peak_bytes", out _));
        }
        long geluBefore = root.GetProperty("memory_before").GetProperty("by_kind").GetProperty("gelu_silu_input").GetInt64();
        long geluAfter = root.GetProperty("memory_after").GetProperty("by_kind").GetProperty("gelu_silu_input").GetInt64();
        Assert.Equal(128_000, geluBefore);
        Assert.Equal(8_000, geluAfter);
        Assert.Equal(result.Stdout.Trim(), File.ReadAllText(report).Trim());
    }

    [SkippableFact]
    public void RewritingTheRewrittenModelFindsNothingAndWritesTheSameBytes()
    {
        string input = SharedTestData.RequireFile("ort-training/3layer_bloom_optimized_training.onnx");
        using var temp = new TempDirectory();
        string once = temp.File("once.onnx");
        string twice = temp.File("twice.onnx");
        Assert.Equal(0, CliRunner.Run("rewrite", input, "-o", once, "--fold-trainable-affine").ExitCode);
        CliRunner.Result second = CliRunner.Run("rewrite", once, "-o", twice, "--fold-trainable-affine", "--json");
        Assert.Equal(0, second.ExitCode);
        using JsonDocument json = JsonDocument.Parse(second.Stdout);
        Assert.Empty(json.RootElement.GetProperty("rewrites").EnumerateArray());
        Assert.Equal(File.ReadAllBytes(once), File.ReadAllBytes(twice));
    }

    [SkippableFact]
    public void FuseCommandFusesBertAndReportsEachFusion()
    {
        string input = SharedTestData.RequireFile("forward/bert_toy_optimized.onnx");
        using var temp = new TempDirectory();
        string output = temp.File("fused.onnx");
        CliRunner.Result result = CliRunner.Run("fuse", input, "-o", output, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(24, json.RootElement.GetProperty("rewrites").GetArrayLength());
        CliRunner.Result inspect = CliRunner.Run("inspect", output, "--json");
        using JsonDocument counts = JsonDocument.Parse(inspect.Stdout);
        Assert.Equal(12, counts.RootElement.GetProperty("op_counts").GetProperty("LayerNormalization").GetInt32());
        Assert.False(counts.RootElement.GetProperty("op_counts").TryGetProperty("Erf", out _));
    }

    [SkippableFact]
    public void InspectListsRecognisedPatternsAndEstimatesMemory()
    {
        string input = SharedTestData.RequireFile("ort-training/recompute_gelu.onnx");
        CliRunner.Result result = CliRunner.Run(["inspect", input, "--json", .. GeluDims]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        JsonElement pattern = Assert.Single(json.RootElement.GetProperty("patterns").EnumerateArray(), p => p.GetProperty("pattern").GetString() != "leaf-order");
        Assert.Equal("regelu2", pattern.GetProperty("pattern").GetString());
        JsonElement memory = json.RootElement.GetProperty("memory");
        Assert.Equal(128_000, memory.GetProperty("by_kind").GetProperty("gelu_silu_input").GetInt64());
    }

    [Fact]
    public void UnknownPassIsAUsageError()
    {
        using var temp = new TempDirectory();
        CliRunner.Result result = CliRunner.Run("rewrite", temp.File("missing.onnx"), "-o", temp.File("o.onnx"), "--passes", "regelu3");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("regelu3", result.Stderr, StringComparison.Ordinal);
    }
}
