using OnnxMemOpt.Memory;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>One configuration's figures: measured (arena MaxInUse, step times, losses) beside estimated.</summary>
public sealed record ConfigurationFigures(string Name, RunResult Run, MemoryEstimate Estimate, ArenaReplay? ArenaEstimate)
{
    /// <summary>The session's CPU arena MaxInUse over the warm-up and measured steps.</summary>
    public long MeasuredPeakBytes => Run.MeasuredPeakBytes;

    /// <summary>
    /// The estimate comparable to the measured arena peak (<see cref="BenchArenaEstimate"/>): ONNX
    /// Runtime's execution order, buffer sharing and BFC arena replayed over the graph it runs, without
    /// the graph inputs and outputs that the trainer binds to its own buffers (those never touch the
    /// arena). Initializers are not counted: ONNX Runtime keeps them outside the arena, except the
    /// MatMul kernels' pre-packed copies, which the bench turns off by default (`--prepacking` keeps them).
    /// </summary>
    public long? EstimatedPeakBytes => ArenaEstimate?.MaxInUse;

    /// <summary>The estimator's whole-graph peak (inputs, initializers and outputs resident), as `inspect` reports it.</summary>
    public long? EstimatedGraphPeakBytes => Estimate.PeakBytes;

    /// <summary>Bytes of the tensors forward keeps for backward, as the estimator counts them; null when a size is unknown. This is what the memory passes shrink.</summary>
    public long? SavedActivationBytes => Estimate.SavedActivationBytes;

    /// <summary>Median wall time of a measured optimizer step (train steps and AdamW).</summary>
    public double MedianStepMilliseconds => Run.MedianStepMilliseconds;

    /// <summary>The last optimizer step's mean loss; NaN when no step ran.</summary>
    public float FinalLoss => Run.FinalLoss;

    /// <summary>(estimated − measured) / measured; null when the estimate is unknown or nothing was measured.</summary>
    public double? EstimateError => EstimatedPeakBytes is { } e && MeasuredPeakBytes > 0 ? (double)(e - MeasuredPeakBytes) / MeasuredPeakBytes : null;
}

/// <summary>Everything one bench run produced.</summary>
public sealed record BenchOutcome(
    string Model,
    string Shape,
    string Trainable,
    int Steps,
    int Batch,
    int Sequence,
    ConfigurationFigures Baseline,
    ConfigurationFigures Rewritten,
    PassResult Rewrites,
    int TrainedParameters,
    double SecondsTotal)
{
    /// <summary>Rewritten / baseline measured peak: below 1 is memory saved. NaN when the baseline measured nothing.</summary>
    public double PeakRatio => Ratio(Rewritten.MeasuredPeakBytes, Baseline.MeasuredPeakBytes);

    /// <summary>Rewritten / baseline median step time: the rewrite's cost (or gain) in speed.</summary>
    public double TimeRatio => Ratio(Rewritten.MedianStepMilliseconds, Baseline.MedianStepMilliseconds);

    /// <summary>Rewritten / baseline estimated arena peak, to set beside <see cref="PeakRatio"/>; null when either estimate is unknown.</summary>
    public double? EstimatedPeakRatio => Baseline.EstimatedPeakBytes is { } b && Rewritten.EstimatedPeakBytes is { } r ? Ratio(r, b) : null;

    /// <summary>Rewritten / baseline saved-activation bytes; null when either is unknown.</summary>
    public double? SavedActivationRatio => Baseline.SavedActivationBytes is { } b && Rewritten.SavedActivationBytes is { } r ? Ratio(r, b) : null;

    /// <summary>|rewritten − baseline| / |baseline| of the final loss.</summary>
    public double FinalLossRelativeDifference => Math.Abs(Rewritten.FinalLoss - Baseline.FinalLoss) / Math.Max(Math.Abs(Baseline.FinalLoss), 1e-12);

    private static double Ratio(double numerator, double denominator) => denominator == 0 ? double.NaN : numerator / denominator;
}
