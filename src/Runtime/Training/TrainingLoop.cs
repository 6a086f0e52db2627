using System.Diagnostics;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// What a training run reports: the (micro-batch mean) loss of every optimizer step, its wall time
/// (train steps and AdamW), the training session's arena MaxInUse over the run, and the bytes held
/// outside the arena for weights, gradients and moments.
/// </summary>
public sealed record TrainingReport(IReadOnlyList<float> Losses, IReadOnlyList<double> StepMilliseconds, long MeasuredPeakBytes, long ParameterBytes)
{
    /// <summary>Median of <see cref="StepMilliseconds"/> (0 without steps): robust to the occasional slow step a loaded machine adds.</summary>
    public double MedianStepMilliseconds
    {
        get
        {
            if (StepMilliseconds.Count == 0)
            {
                return 0;
            }
            double[] sorted = StepMilliseconds.Order().ToArray();
            int middle = sorted.Length / 2;
            return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        }
    }
}

/// <summary>
/// The plain training loop: for each optimizer step, <c>accumulationSteps</c> micro-batches (the first
/// overwriting the gradients, the rest adding to them), then AdamW with the gradients averaged.
/// </summary>
public static class TrainingLoop
{
    /// <param name="trainer">The trainer to drive.</param>
    /// <param name="batches">The micro-batch for a 0-based micro-step index; the loop does not dispose it.</param>
    /// <param name="steps">Optimizer steps to run.</param>
    /// <param name="accumulationSteps">Micro-batches per optimizer step.</param>
    /// <param name="onStep">Called after each optimizer step with its 0-based index and mean loss.</param>
    public static TrainingReport Run(Trainer trainer, Func<long, TrainingBatch> batches, int steps, int accumulationSteps = 1,
        Action<int, float>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        ArgumentOutOfRangeException.ThrowIfLessThan(accumulationSteps, 1);

        var losses = new List<float>(steps);
        var times = new List<double>(steps);
        long microStep = 0;
        for (int step = 0; step < steps; step++)
        {
            long start = Stopwatch.GetTimestamp();
            trainer.LazyResetGrad();
            double lossSum = 0;
            for (int micro = 0; micro < accumulationSteps; micro++)
            {
                lossSum += trainer.Step(batches(microStep++));
            }
            trainer.OptimizerStep(1f / accumulationSteps);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            float loss = (float)(lossSum / accumulationSteps);
            losses.Add(loss);
            onStep?.Invoke(step, loss);
        }
        return new TrainingReport(losses, times, trainer.MemoryStats().MaxInUse, trainer.Parameters.Bytes);
    }
}
