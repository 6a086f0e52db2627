using OnnxMemOpt.Memory;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>One configuration's figures: measured (arena MaxInUse, step times, losses) beside estimated.</summary>
public sealed record ConfigurationFigures(string Name, RunResult Run, MemoryEstimate Estimate, ArenaReplay? ArenaEstimate)
{
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

    public long? SavedActivationBytes => Estimate.SavedActivationBytes;

    public double MedianStepMilliseconds => Run.MedianStepMilliseconds;

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
    public double PeakRatio => Ratio(Rewritten.MeasuredPeakBytes, Baseline.MeasuredPeakBytes);

    public double TimeRatio => Ratio(Rewritten.MedianStepMilliseconds, Baseline.MedianStepMilliseconds);

    public double? EstimatedPeakRatio => Baseline.EstimatedPeakBytes is { } b && Rewritten.EstimatedPeakBytes is { } r ? Ratio(r, b) : null;

    public double? SavedActivationRatio => Baseline.SavedActivationBytes is { } b && Rewritten.SavedActivationBytes is { } r ? Ratio(r, b) : null;

    /// <summary>|rewritten − baseline| / |baseline| of the final loss.</summary>
    public double FinalLossRelativeDifference => Math.Abs(Rewritten.FinalLoss - Baseline.FinalLoss) / Math.Max(Math.Abs(Baseline.FinalLoss), 1e-12);

    private static double Ratio(double numerator, double denominator) => denominator == 0 ? double.NaN : numerator / denominator;
}
