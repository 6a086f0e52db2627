using System.Text.Json;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Models;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// A real pretrained encoder end to end: MiniLM → train-graph (LoRA on query and value, classification
/// head) → rewrite with every pass → `verify` against the unrewritten training graph on ONNX Runtime:
/// the forward is unchanged and every gradient stays aligned with the original's.
/// </summary>
public class MiniLmRewriteTests(ITestOutputHelper output)
{
    [Fact]
    public void RewrittenMiniLmTrainingGraphVerifies()
    {
        using var temp = new TempDirectory();
        OnnxModel forward = OnnxModel.Load(MiniLmModel.ExtractTo(temp.File("minilm")));
        OnnxModel training = TrainingGraphBuilder.Build(forward, new TrainingGraphOptions
        {
            Trainable = TrainableSet.Lora,
            LoraRank = 8,
            LoraTargets = "query|value",
            Output = "last_hidden_state",
            Head = new ClassificationHeadOptions(2),
        });
        string original = temp.File("train.onnx");
        training.Save(original);
        PassResult result = MemoryPasses.Run(training, MemoryPasses.All);
        foreach (var group in result.Rewrites.GroupBy(r => r.Pass)) output.WriteLine($"{group.Key}: {group.Count()}");
        foreach (var skip in result.Skipped.Take(4)) output.WriteLine($"skip {skip.Pass} {skip.Node}: {skip.Reason}");
        Assert.Equal(6, result.Rewrites.Count(r => r.Pass == "regelu2"));
        string rewritten = temp.File("train.rewritten.onnx");
        training.Save(rewritten);

        CliRunner.Result verify = CliRunner.Run("verify", original, rewritten, "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        output.WriteLine(verify.Stdout);
        using JsonDocument json = JsonDocument.Parse(verify.Stdout);
        Assert.True(json.RootElement.GetProperty("forward_max_rel_diff").GetDouble() <= 1e-5);
        // Measured with token ids in {0, 1}: every query-LoRA gradient equal, the value-LoRA B
        // gradients at cosine 0.66-0.73. The 2-bit derivative (levels 1.05 on (0, 3.19), -0.05 below)
        // is a coarse stand-in for GELU' on one input, and six stacked layers compound it; the paper's
        // claim is about training curves, not per-step gradient agreement. Asserted: aligned, finite.
        foreach (JsonElement gradient in json.RootElement.GetProperty("gradients").EnumerateArray())
        {
            double cosine = gradient.GetProperty("cosine").GetDouble();
            Assert.True(cosine >= 0.5, gradient.ToString());
            Assert.True(double.IsFinite(gradient.GetProperty("rel_err").GetDouble()), gradient.ToString());
            // What is ours to get right: against the original graph with the published step
            // derivative in standard ops, every gradient agrees to float32 rounding.
            Assert.True(gradient.GetProperty("method_rel_err").GetDouble() <= 1e-4, gradient.ToString());
        }
    }
}
