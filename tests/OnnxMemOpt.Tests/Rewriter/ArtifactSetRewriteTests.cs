using System.Text.Json;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Artifacts;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// `rewrite` of an artifact set and `verify` of artifact sets: the set stays consistent where γ/β
/// folding changes parameters, gradients are read from the accumulation buffers, and random ops
/// are made deterministic in both graphs before comparing.
/// </summary>
public class ArtifactSetRewriteTests(ITestOutputHelper output)
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    /// <summary>
    /// x → MatMul(W0) → LayerNorm(γ, β) → MatMul(W1) → Gelu → Dropout(0.25, training) → MatMul(W2) →
    /// logits [batch, 4]. W0 comes first so that the norm has a gradient node under LoRA too.
    /// </summary>
    private static string WriteForwardWithDropout(string path)
    {
        var random = new Random(11);
        float[] Values(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
        byte[] model = new TinyModel()
            .Input("x", F, null, 8)
            .Output("logits", F, null, 4)
            .Initializer(TinyModel.FloatTensor("fc0.weight", [8, 8], Values(64, 0.5f)))
            .Initializer(TinyModel.FloatTensor("norm.weight", [8], Values(8, 0.5f).Select(v => v + 1).ToArray()))
            .Initializer(TinyModel.FloatTensor("norm.bias", [8], Values(8, 0.2f)))
            .Initializer(TinyModel.FloatTensor("fc1.weight", [8, 16], Values(128, 0.5f)))
            .Initializer(TinyModel.FloatTensor("fc2.weight", [16, 4], Values(64, 0.5f)))
            .Initializer(TinyModel.FloatTensor("dropout.ratio", [], [0.25f]))
            .Initializer(new TensorProto { Name = "dropout.training", DataType = (int)TensorProto.Types.DataType.Bool, Int32Data = { 1 } })
            .Node("MatMul", ["x", "fc0.weight"], ["projected"])
            .Node("LayerNormalization", ["projected", "norm.weight", "norm.bias"], ["normed"], "", TinyModel.Attr("axis", -1L), TinyModel.Attr("epsilon", 1e-5f))
            .Node("MatMul", ["normed", "fc1.weight"], ["hidden"])
            .Node("Gelu", ["hidden"], ["activated"], "com.microsoft")
            .Node("Dropout", ["activated", "dropout.ratio", "dropout.training"], ["dropped"])
            .Node("MatMul", ["dropped", "fc2.weight"], ["logits"])
            .ToBytes();
        File.WriteAllBytes(path, model);
        return path;
    }

    [Theory]
    [InlineData("full", "seed")]
    [InlineData("lora", "seed")]
    [InlineData("lora", "zero-dropout")]
    public void VerifyComparesEveryAccumulatedGradientOfSetsWithDropout(string trainable, string random)
    {
        using var temp = new TempDirectory();
        string forward = WriteForwardWithDropout(temp.File("forward.onnx"));
        string baseline = temp.File("baseline");
        string rewritten = temp.File("rewritten");
        Assert.Equal(0, CliRunner.Run("artifacts", forward, "-o", baseline, "--trainable", trainable, "--lora-rank", "2").ExitCode);
        CliRunner.Result rewrite = CliRunner.Run("artifacts", forward, "-o", rewritten, "--trainable", trainable, "--lora-rank", "2", "--rewrite", "--json");
        Assert.True(rewrite.ExitCode == 0, rewrite.Stderr);

        CliRunner.Result verify = CliRunner.Run("verify", baseline, rewritten, "--random", random, "--dim", "d0=4", "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        output.WriteLine(verify.Stdout);
        using JsonDocument json = JsonDocument.Parse(verify.Stdout);
        JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("artifacts").GetBoolean());
        Assert.InRange(root.GetProperty("forward_max_rel_diff").GetDouble(), 0, 1e-5);
        Assert.Contains(random == "seed" ? "seeded by node name" : "ratio 0", root.GetProperty("random_ops").GetString());
        string[] trained = OrtCheckpointReader.Read(Path.Combine(baseline, "checkpoint")).TrainableParameters.Select(t => t.Name).ToArray();
        var rows = root.GetProperty("gradients").EnumerateArray().ToDictionary(g => g.GetProperty("name").GetString()!);
        Assert.Equal(trained.Select(p => p + "_grad.accumulation.out").Order(StringComparer.Ordinal), rows.Keys.Order(StringComparer.Ordinal));
        // The gradients were read back from the buffers: the ones that cannot be zero are not.
        foreach (string parameter in trained.Where(p => !p.EndsWith("lora_A", StringComparison.Ordinal)))
        {
            Assert.True(rows[parameter + "_grad.accumulation.out"].GetProperty("norm").GetDouble() > 0, $"{parameter}'s gradient is zero");
        }
    }

    [Fact]
    public void TheSameSetVerifiedAgainstItselfDiffersByNothingBecauseDropoutIsSeeded()
    {
        using var temp = new TempDirectory();
        string forward = WriteForwardWithDropout(temp.File("forward.onnx"));
        string set = temp.File("set");
        Assert.Equal(0, CliRunner.Run("artifacts", forward, "-o", set, "--trainable", "full").ExitCode);
        CliRunner.Result verify = CliRunner.Run("verify", set, set, "--dim", "d0=4", "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        using JsonDocument json = JsonDocument.Parse(verify.Stdout);
        Assert.Equal(0, json.RootElement.GetProperty("forward_max_rel_diff").GetDouble());
        Assert.All(json.RootElement.GetProperty("gradients").EnumerateArray(), g => Assert.Equal(0, g.GetProperty("rel_err").GetDouble()));
    }

    [SkippableTheory]
    [InlineData("ort-training/mlp-artifacts")]
    [InlineData("ort-training/lora-mlp")]
    public void SharedSetsRewriteAndVerify(string folder)
    {
        string input = SharedTestData.RequireFile(folder);
        using var temp = new TempDirectory();
        string rewritten = temp.File("rewritten");
        string[] before = Directory.EnumerateFiles(input).Select(f => $"{Path.GetFileName(f)}:{new FileInfo(f).Length}:{File.GetLastWriteTimeUtc(f).Ticks}").ToArray();
        CliRunner.Result rewrite = CliRunner.Run("rewrite", input, "-o", rewritten, "--json");
        Assert.True(rewrite.ExitCode == 0, rewrite.Stderr);
        Assert.Equal(before, Directory.EnumerateFiles(input).Select(f => $"{Path.GetFileName(f)}:{new FileInfo(f).Length}:{File.GetLastWriteTimeUtc(f).Ticks}"));

        CliRunner.Result verify = CliRunner.Run("verify", input, rewritten, "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        using JsonDocument json = JsonDocument.Parse(verify.Stdout);
        Assert.InRange(json.RootElement.GetProperty("forward_max_rel_diff").GetDouble(), 0, 1e-5);
        TrainingArtifacts artifacts = TrainingArtifacts.Load(input);
        Assert.Equal(artifacts.Layout.GradientBuffers.Count, json.RootElement.GetProperty("gradients").GetArrayLength());
        Assert.Contains(json.RootElement.GetProperty("gradients").EnumerateArray(), g => g.GetProperty("norm").GetDouble() > 0);
    }

    [Fact]
    public void FoldingFrozenParametersOfTheCheckpointRewritesCheckpointAndEvalModelToMatch()
    {
        // ORT's generator puts frozen parameters into the checkpoint when they are named: move the
        // norm's γ/β and fc1's weight there, rewrite the set, and check it still computes the same.
        using var temp = new TempDirectory();
        string forward = WriteForwardWithDropout(temp.File("forward.onnx"));
        string generated = temp.File("generated");
        Assert.Equal(0, CliRunner.Run("artifacts", forward, "-o", generated, "--trainable", "lora", "--lora-rank", "2").ExitCode);
        string original = temp.File("original");
        string[] frozen = ["norm.weight", "norm.bias", "fc1.weight"];
        MoveIntoCheckpoint(ArtifactSet.Load(generated), frozen).Write(original);

        string rewritten = temp.File("rewritten");
        CliRunner.Result rewrite = CliRunner.Run("rewrite", original, "-o", rewritten, "--passes", "fuse,msln", "--json");
        Assert.True(rewrite.ExitCode == 0, rewrite.Stderr);
        using (JsonDocument json = JsonDocument.Parse(rewrite.Stdout))
        {
            JsonElement artifacts = json.RootElement.GetProperty("artifacts");
            Assert.True(artifacts.GetProperty("checkpoint_rewritten").GetBoolean());
            Assert.True(artifacts.GetProperty("eval_model_rewritten").GetBoolean());
            // fc1's weight was folded (W′ = diag(γ)·W, a new initializer); γ and β are still read,
            // unchanged, by the explicit γ⊙ẑ+β that LoRA's trainable A takes, so they stay.
            Assert.Equal(["fc1.weight"], artifacts.GetProperty("dropped_frozen_parameters").EnumerateArray().Select(p => p.GetString()));
            Assert.Contains(json.RootElement.GetProperty("rewrites").EnumerateArray(), r => r.GetProperty("pass").GetString() == "msln");
        }
        OrtCheckpoint checkpoint = OrtCheckpointReader.Read(Path.Combine(rewritten, "checkpoint"));
        Assert.Equal(["norm.weight", "norm.bias"], checkpoint.FrozenParameters.Select(t => t.Name));
        GraphProto training = OnnxModel.Load(Path.Combine(rewritten, "training_model.onnx")).Proto.Graph;
        Assert.DoesNotContain(training.Input, i => i.Name == "fc1.weight");
        Assert.Contains(training.Input, i => i.Name == "norm.weight");
        GraphProto eval = OnnxModel.Load(Path.Combine(rewritten, "eval_model.onnx")).Proto.Graph;
        Assert.Contains(eval.Initializer, t => t.Name == "fc1.weight");
        Assert.DoesNotContain(eval.Input, i => i.Name == "fc1.weight");
        Assert.Contains(eval.Input, i => i.Name == "norm.weight");

        // Same loss, same forward, same eval loss as the original set (Dropout seeded alike).
        CliRunner.Result verify = CliRunner.Run("verify", original, rewritten, "--dim", "d0=4", "--json");
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        using (JsonDocument json = JsonDocument.Parse(verify.Stdout))
        {
            Assert.InRange(json.RootElement.GetProperty("forward_max_rel_diff").GetDouble(), 0, 1e-5);
        }
        TrainingArtifacts before = TrainingArtifacts.Load(original);
        TrainingArtifacts after = TrainingArtifacts.Load(rewritten);
        using TrainingBatch batch = before.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 4, Seed = 2 });
        using var beforeTrainer = new Trainer(before, new TrainerOptions { IntraOpThreads = 1 });
        using var afterTrainer = new Trainer(after, new TrainerOptions { IntraOpThreads = 1 });
        float evalBefore = beforeTrainer.Evaluate(batch);
        float evalAfter = afterTrainer.Evaluate(batch);
        Assert.True(Math.Abs(evalAfter - evalBefore) <= 1e-5 * Math.Abs(evalBefore), $"eval loss {evalAfter} vs {evalBefore}");
    }

    /// <summary>The set with <paramref name="names"/> moved from the graphs' initializers into the checkpoint's frozen parameters (graph inputs).</summary>
    private static ArtifactSet MoveIntoCheckpoint(ArtifactSet set, string[] names)
    {
        var frozen = new List<CheckpointTensor>();
        ModelProto training = set.TrainingModel.Proto.Clone();
        foreach (string name in names)
        {
            TensorProto tensor = training.Graph.Initializer.Single(t => t.Name == name);
            frozen.Add(new CheckpointTensor(name, tensor.Dims.ToArray(), TensorData.ToFloats(tensor)));
            training.Graph.Initializer.Remove(tensor);
            int firstBuffer = training.Graph.Input.ToList().FindIndex(i => i.Name.EndsWith("_grad.accumulation.buffer", StringComparison.Ordinal));
            training.Graph.Input.Insert(firstBuffer, ValueInfo(tensor));
        }
        ModelProto eval = set.EvalModel!.Proto.Clone();
        foreach (string name in names)
        {
            TensorProto tensor = eval.Graph.Initializer.Single(t => t.Name == name);
            eval.Graph.Initializer.Remove(tensor);
            eval.Graph.Input.Add(ValueInfo(tensor));
        }
        return new ArtifactSet
        {
            TrainingModel = OnnxModel.FromProto(training, "training_model.onnx"),
            EvalModel = OnnxModel.FromProto(eval, "eval_model.onnx"),
            OptimizerModel = set.OptimizerModel,
            Checkpoint = new OrtCheckpoint
            {
                Version = set.Checkpoint.Version,
                TrainableParameters = set.Checkpoint.TrainableParameters,
                FrozenParameters = frozen,
                OptimizerGroups = set.Checkpoint.OptimizerGroups,
                Properties = set.Checkpoint.Properties,
            },
        };
    }

    private static ValueInfoProto ValueInfo(TensorProto tensor)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(tensor.Dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        return new ValueInfoProto { Name = tensor.Name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = tensor.DataType, Shape = shape } } };
    }
}
