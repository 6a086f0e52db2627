using System.Diagnostics;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>What a bench run trains: steps, optimizer, schedule and how the two sessions take turns.</summary>
public sealed record BenchSettings
{
    /// <summary>Optimizer steps measured per configuration, after the warm-up step; also the cosine schedule's length.</summary>
    public int Steps { get; init; } = 5;

    /// <summary>Micro-batches per optimizer step (gradient accumulation).</summary>
    public int AccumulationSteps { get; init; } = 1;

    /// <summary>AdamW's learning rate, or the schedule's peak when <see cref="WarmupSteps"/> is set.</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>Linear warm-up steps of the warm-up + cosine schedule (0: constant learning rate).</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Seed of the training batch pool (calibration batches draw from seed + 1000); the CLI also seeds the graph's initial weights with it.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The memory passes the rewritten configuration gets (default: all; e.g. the paper's four alone).</summary>
    public IReadOnlyList<string> Passes { get; init; } = OnnxMemOpt.Passes.MemoryPasses.All;

    /// <summary>Options of those passes (e.g. which 2-bit GELU table ReGELU2 uses).</summary>
    public OnnxMemOpt.Patterns.RewriteOptions Rewrite { get; init; } = new();

    /// <summary>Alternate the configurations step by step, both sessions open (see <see cref="SideBySideSettings.Interleave"/>); false runs them one after the other.</summary>
    public bool Interleave { get; init; } = true;

    /// <summary>ONNX Runtime's intra-op threads per session; 0 lets it choose.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's CUDA provider when the runtime has it and a GPU answers; else the CPU provider.</summary>
    public bool UseCudaWhenPresent { get; init; }

    /// <summary>ONNX Runtime's memory pattern (off by default: see <see cref="Runtime.Training.TrainerOptions.EnableMemoryPattern"/>).</summary>
    public bool MemoryPattern { get; init; }

    /// <summary>
    /// Let the CPU MatMul kernels keep pre-packed copies of the frozen weights in the arena (ONNX
    /// Runtime's default). Off by default here: those copies are the same in both configurations,
    /// and without them the arena holds exactly the step's tensors, which the estimate models.
    /// </summary>
    public bool Prepacking { get; init; }

    /// <summary>ONNX Runtime's graph optimisation level for both sessions and for the arena estimate's optimised graph.</summary>
    public Microsoft.ML.OnnxRuntime.GraphOptimizationLevel OptimizationLevel { get; init; } = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Extra ONNX Runtime session config entries; <c>session.disable_prepacking</c> is added unless <see cref="Prepacking"/> is on.</summary>
    public IReadOnlyDictionary<string, string> SessionConfig { get; init; } = new Dictionary<string, string>();

    /// <summary>The trainer options both configurations run with: these settings, prepacking off unless asked for, and a warm-up + cosine schedule when <see cref="WarmupSteps"/> is set.</summary>
    public TrainerOptions TrainerOptions() => new()
    {
        IntraOpThreads = IntraOpThreads,
        UseCudaWhenPresent = UseCudaWhenPresent,
        EnableMemoryPattern = MemoryPattern,
        OptimizationLevel = OptimizationLevel,
        SessionConfig = Prepacking ? SessionConfig : new Dictionary<string, string>(SessionConfig) { ["session.disable_prepacking"] = "1" },
        LearningRate = LearningRate,
        Schedule = WarmupSteps > 0 ? new WarmupCosineSchedule(LearningRate, WarmupSteps, Steps) : null,
    };
}

/// <summary>
/// Runs the bench: the baseline and rewritten graphs on the same batches with the same seeds, each
/// in its own fresh session (warm-up step first), and gathers estimated beside measured figures.
/// </summary>
public static class BenchRunner
{
    /// <summary>Batches a calibrated table is fitted on: a few million activation inputs per layer at the presets' sizes.</summary>
    public const int CalibrationBatches = 4;

    /// <summary>Builds, estimates and trains the baseline and the rewritten configuration of <paramref name="model"/>.</summary>
    /// <param name="model">The forward model, its sizes and how its integer inputs are drawn.</param>
    /// <param name="trainable">The trainable set's name (see <see cref="TrainableSets.Names"/>), carried into the outcome; <paramref name="graphOptions"/> already applies it.</param>
    /// <param name="graphOptions">How the training graph is built.</param>
    /// <param name="settings">Steps, optimizer, passes and session options.</param>
    /// <param name="workDirectory">Where both configurations' artifacts are written; the caller removes it.</param>
    /// <param name="onStep">Called after each optimizer step: configuration name, 0-based step, mean loss.</param>
    public static BenchOutcome Run(BenchModel model, string trainable, TrainingGraphOptions graphOptions, BenchSettings settings,
        string workDirectory, Action<string, int, float>? onStep = null)
    {
        long start = Stopwatch.GetTimestamp();
        // Calibrated tables are fitted on the bench's own batches (another seed than the training pool's).
        BenchBatches? calibration = null;
        var hooks = new BenchRewriteHooks
        {
            CalibrationData = artifacts => (calibration = new BenchBatches(artifacts.Layout.UserInputs, model.Batch, model.Sequence, model.IntegerInputs, settings.Seed + 1000, CalibrationBatches)).Pool,
        };
        BenchGraphPair graphs;
        try
        {
            graphs = BenchGraphs.Build(model, graphOptions, workDirectory, withEvalModel: false, settings.Passes, settings.Rewrite, hooks);
        }
        finally
        {
            calibration?.Dispose();
        }
        // The graphs are on disk now and the in-memory training model (paper-scale weights) is garbage.
        GC.Collect();
        var layout = graphs.Baseline.Artifacts.Layout;
        TrainerOptions trainerOptions = settings.TrainerOptions();
        ArenaReplay? baselineArena = BenchArenaEstimate.Of(graphs.Baseline.Artifacts, trainerOptions);
        ArenaReplay? rewrittenArena = BenchArenaEstimate.Of(graphs.Rewritten.Artifacts, trainerOptions);

        using var batches = new BenchBatches(layout.UserInputs, model.Batch, model.Sequence, model.IntegerInputs, settings.Seed);
        var runSettings = new SideBySideSettings
        {
            Steps = settings.Steps,
            AccumulationSteps = settings.AccumulationSteps,
            Interleave = settings.Interleave,
            Trainer = trainerOptions,
        };
        IReadOnlyList<RunResult> results = SideBySideRun.Run(
            [new RunConfiguration(graphs.Baseline.Name, graphs.Baseline.Artifacts), new RunConfiguration(graphs.Rewritten.Name, graphs.Rewritten.Artifacts)],
            i => batches[i], runSettings, onStep);
        return new BenchOutcome(model.Name, model.Shape, trainable, settings.Steps, model.Batch, model.Sequence,
            new ConfigurationFigures(graphs.Baseline.Name, results[0], graphs.Baseline.Estimate, baselineArena),
            new ConfigurationFigures(graphs.Rewritten.Name, results[1], graphs.Rewritten.Estimate, rewrittenArena),
            graphs.Rewrites, graphs.TrainedParameters, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }
}
