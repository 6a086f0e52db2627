using System.Text.Json;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>`onnxmemopt train` on ONNX Runtime's own on-device artifacts, with only our library registered.</summary>
public class TrainCommandTests
{
    [SkippableTheory]
    [InlineData("ort-training/mlp-artifacts")]
    [InlineData("ort-training/lora-mlp")]
    public void SyntheticTwentyStepsAtLeastHalveTheLoss(string folder)
    {
        string model = Path.Combine(SharedTestData.RequireFile(folder), "training_model.onnx");
        // 10× ONNX Runtime's default learning rate: twenty steps must show convergence, not ORT's pace.
        CliRunner.Result result = CliRunner.Run("train", model, "--data", "synthetic", "--steps", "20", "--lr", "0.01", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        float[] losses = json.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetSingle()).ToArray();
        Assert.Equal(20, losses.Length);
        Assert.True(losses[^1] <= losses[0] / 2, $"loss {losses[0]} -> {losses[^1]}");
        Assert.True(json.RootElement.GetProperty("measured_peak_bytes").GetInt64() > 0);
        Assert.True(json.RootElement.GetProperty("median_step_ms").GetDouble() > 0);
    }

    [SkippableFact]
    public void DataFileReproducesOrtsFirstLoss()
    {
        // ONNX Runtime's C# TrainingTest: input-0.in holds the [2, 784] batch, labels are {1, 1},
        // and the first step's loss is loss_1.out.
        string folder = SharedTestData.RequireFile("ort-training/mlp-artifacts");
        float[] input = Runtime.ArtifactData.ReadTensorText(Path.Combine(folder, "input-0.in"));
        float expected = Runtime.ArtifactData.ReadLoss("loss_1.out");
        using var temp = new TempDirectory();
        string data = temp.File("batch.json");
        File.WriteAllText(data, JsonSerializer.Serialize(new
        {
            inputs = new Dictionary<string, object>
            {
                ["input-0"] = new { shape = new[] { 2, 784 }, values = input },
                ["labels"] = new { shape = new[] { 2 }, values = new[] { 1, 1 } },
            },
        }));
        CliRunner.Result result = CliRunner.Run("train", Path.Combine(folder, "training_model.onnx"), "--data", data, "--steps", "1", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        float loss = json.RootElement.GetProperty("losses")[0].GetSingle();
        Assert.True(Math.Abs(loss - expected) <= 1e-5 * Math.Abs(expected), $"{loss} vs {expected}");
    }

    [Fact]
    public void MissingModelAndBadDataExitWith3()
    {
        using var temp = new TempDirectory();
        CliRunner.Result missing = CliRunner.Run("train", temp.File("training_model.onnx"));
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains(temp.File("training_model.onnx"), missing.Stderr);
        Assert.Equal(2, CliRunner.Run("train", temp.File("x.onnx"), "--steps", "0").ExitCode);
    }
}
