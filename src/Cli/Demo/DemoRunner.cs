using System.Diagnostics;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Runtime.Models;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Demo;

/// <summary>The demo's sizes and schedule; the defaults finish in well under 5 minutes on 2 cores.</summary>
internal sealed record DemoSettings
{
    public int Steps { get; init; } = 100;
    public int Batch { get; init; } = 16;
    public int Sequence { get; init; } = 32;
    public string Trainable { get; init; } = "lora-all";
    public float LearningRate { get; init; } = 5e-4f;
    public int WarmupSteps { get; init; } = 10;
    public int Seed { get; init; } = 42;

    /// <summary>The memory passes of the rewritten run (default: all that apply).</summary>
    public IReadOnlyList<string> Passes { get; init; } = OnnxMemOpt.Passes.MemoryPasses.All;

    /// <summary>Options of those passes (e.g. which 2-bit GELU table ReGELU2 uses; default: the paper's).</summary>
    public OnnxMemOpt.Patterns.RewriteOptions Rewrite { get; init; } = new();

    /// <summary>Use only this many sentences (tests); null uses the whole embedded set.</summary>
    public int? Examples { get; init; }
}

/// <summary>What the demo produced: the bench-style comparison plus the data it ran on.</summary>
internal sealed record DemoOutcome(BenchOutcome Comparison, int TrainExamples, int EvalExamples, DemoSettings Settings);

/// <summary>
/// Fine-tunes all-MiniLM-L6-v2 with LoRA and a 2-class head on the embedded sentiment sentences,
/// baseline and rewritten side by side (same batches, seeds and schedule), then evaluates both on
/// the held-out sentences.
/// </summary>
internal static class DemoRunner
{
    public static DemoOutcome Run(DemoSettings settings, string workDirectory, Action<string, int, float>? onStep = null)
    {
        long start = Stopwatch.GetTimestamp();
        IReadOnlyList<LabelledText> rows = DemoDataset.Load();
        if (settings.Examples is { } n) rows = rows.Take(n).ToList();
        (IReadOnlyList<LabelledText> train, IReadOnlyList<LabelledText> eval) = DemoDataset.Split(rows);

        string modelDirectory = Path.Combine(workDirectory, "model");
        BenchModel model = BenchPresets.MiniLm(new BenchSizes(settings.Batch, settings.Sequence), modelDirectory);
        var encoder = SentenceEncoder.FromVocabulary(Path.Combine(modelDirectory, "vocab.txt"), settings.Sequence);
        var graphOptions = TrainableSets.Options(settings.Trainable, model, loraRank: 8, loraAlpha: 16, settings.Seed);
        BenchGraphPair graphs = BenchGraphs.Build(model, graphOptions, workDirectory, withEvalModel: true, settings.Passes, settings.Rewrite);
        GC.Collect();

        List<TrainingBatch> trainBatches = Batches(encoder, Shuffled(train, settings.Seed), settings.Batch).Select(b => b.Batch).ToList();
        List<(TrainingBatch Batch, IReadOnlyList<LabelledText> Rows, int Real)> evalBatches = Batches(encoder, eval, settings.Batch);
        try
        {
            TrainerOptions trainerOptions = new BenchSettings { Steps = settings.Steps, LearningRate = settings.LearningRate, WarmupSteps = settings.WarmupSteps, MemoryPattern = false, Prepacking = false }.TrainerOptions();
            var runSettings = new SideBySideSettings
            {
                Steps = settings.Steps,
                Interleave = true,
                Trainer = trainerOptions,
            };
            IReadOnlyList<RunResult> results = SideBySideRun.Run(
                [new RunConfiguration(graphs.Baseline.Name, graphs.Baseline.Artifacts), new RunConfiguration(graphs.Rewritten.Name, graphs.Rewritten.Artifacts)],
                i => trainBatches[(int)(i % trainBatches.Count)], runSettings, onStep, trainer => Evaluate(trainer, evalBatches));
            var comparison = new BenchOutcome("minilm", model.Shape, settings.Trainable, settings.Steps, settings.Batch, settings.Sequence,
                new ConfigurationFigures(graphs.Baseline.Name, results[0], graphs.Baseline.Estimate, BenchArenaEstimate.Of(graphs.Baseline.Artifacts, trainerOptions)),
                new ConfigurationFigures(graphs.Rewritten.Name, results[1], graphs.Rewritten.Estimate, BenchArenaEstimate.Of(graphs.Rewritten.Artifacts, trainerOptions)),
                graphs.Rewrites, graphs.TrainedParameters, Stopwatch.GetElapsedTime(start).TotalSeconds);
            return new DemoOutcome(comparison, train.Count, eval.Count, settings);
        }
        finally
        {
            trainBatches.ForEach(b => b.Dispose());
            evalBatches.ForEach(b => b.Batch.Dispose());
        }
    }

    /// <summary>Mean cross-entropy and accuracy over the real rows of the eval batches, from the eval model's log-probabilities.</summary>
    private static EvaluationResult Evaluate(Trainer trainer, IReadOnlyList<(TrainingBatch Batch, IReadOnlyList<LabelledText> Rows, int Real)> batches)
    {
        double lossSum = 0;
        int correct = 0, count = 0;
        foreach ((TrainingBatch batch, IReadOnlyList<LabelledText> rows, int real) in batches)
        {
            var outputs = new Dictionary<string, float[]>(StringComparer.Ordinal);
            trainer.Evaluate(batch, outputs);
            float[] logProbs = outputs.Values.Single();
            int classes = logProbs.Length / batch.Values["labels"].GetTensorTypeAndShape().Shape[0] is var perRow and > 0 ? (int)perRow : 2;
            for (int row = 0; row < real; row++)
            {
                int label = rows[row].Label;
                float p0 = logProbs[row * classes], p1 = logProbs[(row * classes) + 1];
                lossSum -= label == 1 ? p1 : p0;
                correct += (p1 > p0 ? 1 : 0) == label ? 1 : 0;
                count++;
            }
        }
        return new EvaluationResult(count == 0 ? double.NaN : lossSum / count, count == 0 ? double.NaN : (double)correct / count, count);
    }

    private static List<(TrainingBatch Batch, IReadOnlyList<LabelledText> Rows, int Real)> Batches(SentenceEncoder encoder, IReadOnlyList<LabelledText> rows, int batchSize)
    {
        var batches = new List<(TrainingBatch, IReadOnlyList<LabelledText>, int)>();
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            var slice = rows.Skip(start).Take(batchSize).ToList();
            TrainingBatch batch = encoder.Encode(slice, batchSize, out int real);
            batches.Add((batch, slice, real));
        }
        return batches;
    }

    private static List<LabelledText> Shuffled(IReadOnlyList<LabelledText> rows, int seed)
    {
        var list = rows.ToList();
        var random = new Random(seed);
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }
}
