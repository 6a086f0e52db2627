using System.Text.Json.Nodes;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.TrainingGraph;

/// <summary>The `train-graph` and `gradcheck` commands: outputs, JSON keys and exit codes.</summary>
public sealed class TrainGraphCliTests
{
    [Fact]
    public void TrainGraphThenGradcheckReportsSmallError()
    {
        using var temp = new TempDirectory();
        string forward = temp.File("vit.onnx");
        FixtureCatalog.Write("vit-tiny", forward);
        string training = temp.File("vit-train.onnx");

        var build = CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "lora", "--lora-rank", "2", "--lora-targets", "qkv|fc1", "--json");
        Assert.True(build.ExitCode == 0, build.Stderr);
        JsonNode report = JsonNode.Parse(build.Stdout)!;
        Assert.Equal("loss", (string?)report["loss"]);
        Assert.True(report["lora_adapters"]!.GetValue<int>() > 0);
        Assert.True(report["op_counts"]!["com.microsoft:LayerNormalizationGrad"]!.GetValue<int>() > 0);
        Assert.True(File.Exists(training));

        var check = CliRunner.Run("gradcheck", training, "--params", "6", "--randomize-zero", "0.1", "--json");
        Assert.True(check.ExitCode == 0, check.Stderr);
        JsonNode result = JsonNode.Parse(check.Stdout)!;
        Assert.Equal(6, result["checked"]!.GetValue<int>());
        Assert.InRange(result["max_rel_err"]!.GetValue<double>(), 0, 1e-5);
    }

    [Fact]
    public void GradcheckOfATrainingModeExportIsReproducibleAndAtFloat64Precision()
    {
        // A training-mode ViT export: Dropout in training mode, LayerNormalization with its
        // statistics read by LayerNormalizationGrad, Gelu. Each once made the float64 check
        // report float32-sized errors (unseeded masks, float32 statistics, an approximate erf).
        using var temp = new TempDirectory();
        string forward = Path.Combine(SharedTestData.RepoRoot, "fixtures", "exported", "vit-cls-opset17-train-fp32.onnx");
        string training = temp.File("train.onnx");
        Assert.Equal(0, CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "full").ExitCode);

        var first = JsonNode.Parse(CliRunner.Run("gradcheck", training, "--params", "30", "--seed", "6", "--json").Stdout)!;
        var second = JsonNode.Parse(CliRunner.Run("gradcheck", training, "--params", "30", "--seed", "6", "--json").Stdout)!;
        Assert.Equal("float64", (string?)first["precision"]);
        Assert.Equal(first["loss"]!.GetValue<double>(), second["loss"]!.GetValue<double>());
        Assert.Equal(first["max_rel_err"]!.GetValue<double>(), second["max_rel_err"]!.GetValue<double>());
        foreach (int seed in new[] { 1, 2, 5 })
        {
            var check = CliRunner.Run("gradcheck", training, "--params", "30", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", "--tolerance", "5e-6");
            Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        }
    }

    [Fact]
    public void HeadOnlyWithMseAndWithoutFusion()
    {
        using var temp = new TempDirectory();
        string forward = temp.File("roberta.onnx");
        FixtureCatalog.Write("roberta-tiny", forward);
        string training = temp.File("roberta-train.onnx");
        var build = CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "none", "--head-classes", "3",
            "--head-pooling", "mean", "--loss-output", "last_hidden_state", "--loss", "mse", "--no-fuse", "--json");
        Assert.True(build.ExitCode == 0, build.Stderr);
        JsonNode report = JsonNode.Parse(build.Stdout)!;
        Assert.Equal(["head.weight", "head.bias"], report["parameters"]!.AsArray().Select(p => (string)p!).ToArray());
        Assert.Null(report["op_counts"]!["com.microsoft:LayerNormalizationGrad"]);

        var check = CliRunner.Run("gradcheck", training, "--params", "5", "--json", "--tolerance", "1e-6");
        Assert.True(check.ExitCode == 0, check.Stdout + check.Stderr);
        Assert.InRange(JsonNode.Parse(check.Stdout)!["max_rel_err"]!.GetValue<double>(), 0, 1e-6);
    }

    [Fact]
    public void InvalidModelExitsThreeAndWritesNothing()
    {
        using var temp = new TempDirectory();
        string bad = temp.File("bad.onnx");
        File.WriteAllBytes(bad, [1, 2, 3, 4, 5]);
        string output = temp.File("out.onnx");
        var result = CliRunner.Run("train-graph", bad, "-o", output);
        Assert.Equal(3, result.ExitCode);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void ModelThatCannotBeTrainedAsAskedExitsThree()
    {
        using var temp = new TempDirectory();
        string forward = temp.File("llama.onnx");
        FixtureCatalog.Write("llama-tiny", forward);
        string output = temp.File("out.onnx");
        var result = CliRunner.Run("train-graph", forward, "-o", output, "--trainable", "lora", "--lora-targets", "no_such_layer");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("no_such_layer", result.Stderr);
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData("--loss", "hinge")]
    [InlineData("--trainable", "everything")]
    [InlineData("--lora-rank", "0")]
    [InlineData("--lora-targets", "(unclosed")]
    public void BadOptionsExitTwo(string option, string value)
    {
        using var temp = new TempDirectory();
        string forward = temp.File("vit.onnx");
        FixtureCatalog.Write("vit-tiny", forward);
        var result = CliRunner.Run("train-graph", forward, "-o", temp.File("out.onnx"), option, value);
        Assert.Equal(2, result.ExitCode);
    }
}
