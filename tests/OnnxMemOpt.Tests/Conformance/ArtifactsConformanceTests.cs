using System.Text.Json;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Conformance;

/// <summary>
/// Artifact sets from `onnxmemopt artifacts` in ONNX Runtime Training 1.19.2: it loads them and
/// trains 5 steps with the losses `onnxmemopt train DIR` reports, and its eval model gives the
/// training graph's forward outputs. Run over the repository's exporter-shaped fixtures and over
/// PyTorch-exported models in fixtures/exported when they are there.
/// </summary>
public class ArtifactsConformanceTests(ITestOutputHelper output)
{
    private const int Steps = 5;
    private const double Tolerance = 1e-4;

    public static TheoryData<string, string> FixtureSets => new()
    {
        { "fixtures/models/vit-tiny.onnx", "lora" },
        { "fixtures/models/roberta-tiny.onnx", "lora" },
        { "fixtures/models/llama-tiny.onnx", "lora" },
        { "fixtures/models/llama-tiny.onnx", "full" },
    };

    /// <summary>The exporter corpus (fixtures/exported/{bert,vit,llama}*-opset17-eval-fp32.onnx), or one placeholder row that skips.</summary>
    public static TheoryData<string> ExportedModels
    {
        get
        {
            var data = new TheoryData<string>();
            string folder = Path.Combine(SharedTestData.RepoRoot, "fixtures", "exported");
            string[] models = Directory.Exists(folder)
                ? Directory.EnumerateFiles(folder, "*-opset17-eval-fp32.onnx")
                    .Select(Path.GetFileName)
                    .Where(n => n!.StartsWith("bert", StringComparison.Ordinal) || n.StartsWith("vit", StringComparison.Ordinal) || n.StartsWith("llama", StringComparison.Ordinal))
                    .Select(n => n!)
                    .Order(StringComparer.Ordinal)
                    .ToArray()
                : [];
            foreach (string model in models)
            {
                data.Add(model);
            }
            if (models.Length == 0)
            {
                data.Add("");
            }
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(FixtureSets))]
    public void OrtTrainingTrainsGeneratedSetsAsTrainDoes(string model, string trainable)
    {
        OrtTraining119.Require();
        CheckSet(Path.Combine(SharedTestData.RepoRoot, model), ["--trainable", trainable]);
    }

    [SkippableTheory]
    [MemberData(nameof(ExportedModels))]
    public void OrtTrainingTrainsSetsOfPyTorchExports(string model)
    {
        Skip.If(model.Length == 0, "no PyTorch export matches fixtures/exported/{bert,vit,llama}*-opset17-eval-fp32.onnx yet (the exporter corpus lands there)");
        OrtTraining119.Require();
        CheckSet(Path.Combine(SharedTestData.RepoRoot, "fixtures", "exported", model), ["--trainable", "lora"]);
    }

    /// <summary>The exports' sequence axis (fixtures' graphs have none; unused names are ignored).</summary>
    private static readonly Dictionary<string, long> SequenceDims = new(StringComparer.Ordinal) { ["sequence"] = 8 };

    private void CheckSet(string model, string[] options)
    {
        using var temp = new TempDirectory();
        string folder = temp.File("set");
        CliRunner.Result generated = CliRunner.Run(["artifacts", model, "-o", folder, .. options]);
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        TrainingArtifacts artifacts = TrainingArtifacts.Load(folder);
        string feed = temp.File("batch.json");
        using TrainingBatch batch = artifacts.CreateSyntheticBatch(new SyntheticBatchOptions { BatchSize = 2, Dims = SequenceDims, Seed = 7 });
        FeedFile.Write(feed, batch);

        OrtTraining119.Run reference = OrtTraining119.Train(OrtTraining119.ArtifactFiles.Of(artifacts), feed, Steps, evaluate: true);
        CliRunner.Result trained = CliRunner.Run("train", folder, "--data", feed, "--steps", $"{Steps}", "--json");
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        using JsonDocument json = JsonDocument.Parse(trained.Stdout);
        double[] losses = json.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray();
        output.WriteLine($"{Path.GetFileName(model)} {string.Join(' ', options)}: ORT Training 1.19.2 {string.Join(", ", reference.Losses.Select(l => l.ToString("R")))}");
        output.WriteLine($"{Path.GetFileName(model)} {string.Join(' ', options)}: onnxmemopt train  {string.Join(", ", losses.Select(l => l.ToString("R")))}");
        Assert.Equal(Steps, reference.Losses.Count);
        for (int i = 0; i < Steps; i++)
        {
            Assert.True(TrainConformanceTests.Relative(losses[i], reference.Losses[i]) <= Tolerance, $"step {i + 1}: {losses[i]} vs ORT's {reference.Losses[i]}");
        }

        // The eval model gives the training graph's forward outputs: before any update its loss is
        // the first train step's loss; after the same 5 steps its outputs are ORT's.
        using var trainer = new Trainer(artifacts, new TrainerOptions { IntraOpThreads = 1 });
        var before = new Dictionary<string, float[]>(StringComparer.Ordinal);
        float evalBefore = trainer.Evaluate(batch, before);
        IReadOnlyList<float> ours = TrainingLoop.Run(trainer, _ => batch, Steps).Losses;
        Assert.True(TrainConformanceTests.Relative(evalBefore, ours[0]) <= 1e-6, $"eval loss {evalBefore} vs first train loss {ours[0]}");
        var after = new Dictionary<string, float[]>(StringComparer.Ordinal);
        float evalAfter = trainer.Evaluate(batch, after);
        Assert.True(TrainConformanceTests.Relative(evalAfter, reference.Eval[0].Single()) <= Tolerance, $"eval loss {evalAfter} vs ORT's {reference.Eval[0].Single()}");
        Assert.Equal(artifacts.EvalLayout!.OtherOutputs.Count + 1, reference.Eval.Count);
        for (int o = 0; o < artifacts.EvalLayout.OtherOutputs.Count; o++)
        {
            float[] mine = after[artifacts.EvalLayout.OtherOutputs[o]];
            double[] theirs = reference.Eval[o + 1];
            Assert.Equal(theirs.Length, mine.Length);
            double scale = theirs.Max(Math.Abs);
            double worst = mine.Zip(theirs, (a, b) => Math.Abs(a - b)).Max() / scale;
            Assert.True(worst <= Tolerance, $"eval output '{artifacts.EvalLayout.OtherOutputs[o]}' differs by {worst:E2} of its largest value");
        }
    }
}
