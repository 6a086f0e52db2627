using System.Text.Json;
using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.Rewriter.TrainingGraphs;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>`verify` on a training graph and its rewrite: the contract's JSON and the figures it measures.</summary>
public class VerifyCommandTests
{
    [Theory]
    [InlineData("msln", false)]
    [InlineData("msrms", false)]
    [InlineData("regelu2,msln", true)]
    public void VerifyReportsForwardDifferenceAndGradientAgreement(string passes, bool approximate)
    {
        Norm norm = passes.Contains("msrms") ? Norm.RmsNorm : Norm.LayerNorm;
        var proto = Build(norm, Activation.Gelu, trainableAffine: true);
        using var temp = new TempDirectory();
        string original = temp.File("original.onnx");
        File.WriteAllBytes(original, proto.ToByteArray());
        OnnxModel model = OnnxModel.FromProto(proto.Clone());
        MemoryPasses.Run(model, passes.Split(','), options: new Patterns.RewriteOptions { FoldTrainableAffine = true });
        string rewritten = temp.File("rewritten.onnx");
        model.Save(rewritten);

        CliRunner.Result result = CliRunner.Run("verify", original, rewritten, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        Assert.True(json.RootElement.GetProperty("forward_max_rel_diff").GetDouble() <= 1e-5);
        var gradients = json.RootElement.GetProperty("gradients").EnumerateArray().ToDictionary(g => g.GetProperty("name").GetString()!);
        Assert.Contains("W1_grad", gradients.Keys);
        Assert.Contains("gamma_grad", gradients.Keys);
        foreach (var (name, gradient) in gradients)
        {
            double relative = gradient.GetProperty("rel_err").GetDouble();
            double cosine = gradient.GetProperty("cosine").GetDouble();
            if (!approximate || name == "W2_grad") Assert.True(relative <= 1e-4, $"{name}: {relative}");
            else Assert.True(cosine >= 0.9, $"{name}: {cosine}");
        }
    }

    [Fact]
    public void VerifyOfAModelAgainstItselfIsExact()
    {
        using var temp = new TempDirectory();
        string path = temp.File("m.onnx");
        File.WriteAllBytes(path, Build(Norm.LayerNorm, Activation.Gelu, trainableAffine: false).ToByteArray());
        CliRunner.Result result = CliRunner.Run("verify", path, path, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(0.0, json.RootElement.GetProperty("forward_max_rel_diff").GetDouble());
        Assert.All(json.RootElement.GetProperty("gradients").EnumerateArray(), g => Assert.Equal(0.0, g.GetProperty("rel_err").GetDouble()));
    }

    [SkippableFact]
    public void VerifyOfAGraphOnnxRuntimeCannotRunIsAnInputError()
    {
        string path = SharedTestData.RequireFile("ort-training/3layer_bloom_optimized_training.onnx");
        CliRunner.Result result = CliRunner.Run("verify", path, path, "--json");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("ONNX Runtime cannot run it", result.Stderr, StringComparison.Ordinal);
    }
}
