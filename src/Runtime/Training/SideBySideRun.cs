using System.Diagnostics;
using OnnxMemOpt.Runtime.Memory;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>One configuration of a <see cref="SideBySideRun"/>: a name and the artifacts to train.</summary>
public sealed record RunConfiguration(string Name, TrainingArtifacts Artifacts);

/// <summary>How a <see cref="SideBySideRun"/> trains every configuration.</summary>
public sealed record SideBySideSettings
{
    /// <summary>Optimizer steps measured (after the warm-up).</summary>
    public int Steps { get; init; } = 5;

    /// <summary>Micro-batches per optimizer step (gradient accumulation).</summary>
    public int AccumulationSteps { get; init; } = 1;

    /// <summary>
    /// Alternate the configurations step by step (both sessions open at once), so that a machine's
    /// load changes slow every configuration alike; false runs them one after the other, holding only
    /// one session at a time (for models whose two sessions do not fit in memory together).
    /// </summary>
    public bool Interleave { get; init; } = true;

    /// <summary>
    /// Evaluate every this many optimizer steps as well as after the last one (0: after the last
    /// one only), so that a run reports how held-out figures develop, not just where they end.
    /// Evaluations run outside the timed steps and in the eval model's own session, so they change
    /// neither the step times nor the training session's arena peak.
    /// </summary>
    public int EvaluationInterval { get; init; }

    /// <summary>Session and optimizer settings every configuration's trainer gets, so they differ only in their graphs.</summary>
    public TrainerOptions Trainer { get; init; } = new();
}

/// <summary>What one configuration did: losses and times of the measured steps, and its session's arena peak.</summary>
public sealed record RunResult(string Name, IReadOnlyList<float> Losses, IReadOnlyList<double> StepMilliseconds, ArenaStats Arena, long ParameterBytes)
{
    /// <summary>Arena MaxInUse over the warm-up and measured steps: the measured peak.</summary>
    public long MeasuredPeakBytes => Arena.MaxInUse;

    /// <summary>Median wall time of the measured optimizer steps (train steps and AdamW).</summary>
    public double MedianStepMilliseconds => new TrainingReport(Losses, StepMilliseconds, Arena.MaxInUse, ParameterBytes).MedianStepMilliseconds;

    /// <summary>The last optimizer step's mean loss; NaN when no step ran.</summary>
    public float FinalLoss => Losses.Count > 0 ? Losses[^1] : float.NaN;

    /// <summary>The caller's evaluations, in step order (empty when none ran); the last follows the last step.</summary>
    public IReadOnlyList<EvaluationPoint> Evaluations { get; init; } = [];

    /// <summary>The evaluation after the last step (null when none ran).</summary>
    public EvaluationResult? Evaluation => Evaluations.Count > 0 ? Evaluations[^1].Result : null;
}

/// <summary>Loss and accuracy on held-out data.</summary>
public sealed record EvaluationResult(double Loss, double Accuracy, int Examples);

/// <summary>An evaluation after <paramref name="Step"/> optimizer steps (1-based: 1 = after the first).</summary>
public sealed record EvaluationPoint(int Step, EvaluationResult Result);

/// <summary>
/// Trains several configurations of the same job (a baseline and its rewrite) on the same batches
/// with the same seeds, each in a fresh session (arena MaxInUse never goes down, so sessions are not
/// shared): one warm-up train step on batch 0 first (first-run allocations, memory-pattern planning;
/// its gradient is discarded), then the measured optimizer steps. Every step's wall time covers the
/// train step(s) and AdamW.
/// </summary>
public static class SideBySideRun
{
    /// <param name="configurations">The configurations, all taking the same user inputs.</param>
    /// <param name="batches">The micro-batch for a 0-based micro-step index (the warm-up uses 0); not disposed here.</param>
    /// <param name="settings">Steps, accumulation, interleaving, session options.</param>
    /// <param name="onStep">Called after each optimizer step: configuration name, 0-based step, mean loss.</param>
    /// <param name="evaluate">Optional evaluation of each configuration, after the last step and every <see cref="SideBySideSettings.EvaluationInterval"/> steps.</param>
    public static IReadOnlyList<RunResult> Run(IReadOnlyList<RunConfiguration> configurations, Func<long, TrainingBatch> batches,
        SideBySideSettings settings, Action<string, int, float>? onStep = null, Func<Trainer, EvaluationResult>? evaluate = null)
    {
        ArgumentNullException.ThrowIfNull(configurations);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegative(settings.Steps);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.AccumulationSteps, 1);

        if (!settings.Interleave)
        {
            return configurations.Select(c => RunOne(c, batches, settings, onStep, evaluate)).ToList();
        }
        var runs = new List<ConfigurationRun>();
        try
        {
            foreach (RunConfiguration configuration in configurations)
            {
                runs.Add(new ConfigurationRun(configuration, settings));
            }
            runs.ForEach(r => r.WarmUp(batches));
            for (int step = 0; step < settings.Steps; step++)
            {
                foreach (ConfigurationRun run in runs)
                {
                    run.OptimizerStep(step, batches, onStep);
                    run.EvaluateIfDue(step, evaluate);
                }
            }
            return runs.Select(r => r.Finish()).ToList();
        }
        finally
        {
            runs.ForEach(r => r.Dispose());
        }
    }

    private static RunResult RunOne(RunConfiguration configuration, Func<long, TrainingBatch> batches, SideBySideSettings settings,
        Action<string, int, float>? onStep, Func<Trainer, EvaluationResult>? evaluate)
    {
        using var run = new ConfigurationRun(configuration, settings);
        run.WarmUp(batches);
        for (int step = 0; step < settings.Steps; step++)
        {
            run.OptimizerStep(step, batches, onStep);
            run.EvaluateIfDue(step, evaluate);
        }
        return run.Finish();
    }

    /// <summary>One configuration's trainer and what it recorded.</summary>
    private sealed class ConfigurationRun(RunConfiguration configuration, SideBySideSettings settings) : IDisposable
    {
        private readonly Trainer _trainer = new(configuration.Artifacts, settings.Trainer);
        private readonly List<float> _losses = [];
        private readonly List<double> _times = [];
        private readonly List<EvaluationPoint> _evaluations = [];

        public void WarmUp(Func<long, TrainingBatch> batches)
        {
            _trainer.LazyResetGrad();
            _trainer.Step(batches(0));
        }

        public void OptimizerStep(int step, Func<long, TrainingBatch> batches, Action<string, int, float>? onStep)
        {
            int accumulation = settings.AccumulationSteps;
            long start = Stopwatch.GetTimestamp();
            _trainer.LazyResetGrad();
            double sum = 0;
            for (int micro = 0; micro < accumulation; micro++)
            {
                sum += _trainer.Step(batches(((long)step * accumulation) + micro));
            }
            _trainer.OptimizerStep(1f / accumulation);
            _times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            float loss = (float)(sum / accumulation);
            _losses.Add(loss);
            onStep?.Invoke(configuration.Name, step, loss);
        }

        /// <summary>Evaluates after 0-based <paramref name="step"/> when the interval says so, and always after the last step.</summary>
        public void EvaluateIfDue(int step, Func<Trainer, EvaluationResult>? evaluate)
        {
            if (evaluate is null) return;
            int done = step + 1;
            bool due = done == settings.Steps || (settings.EvaluationInterval > 0 && done % settings.EvaluationInterval == 0);
            if (due)
            {
                _evaluations.Add(new EvaluationPoint(done, evaluate(_trainer)));
            }
        }

        public RunResult Finish() =>
            new(configuration.Name, _losses, _times, _trainer.MemoryStats(), _trainer.Parameters.Bytes)
            {
                Evaluations = _evaluations,
            };

        public void Dispose() => _trainer.Dispose();
    }
}
