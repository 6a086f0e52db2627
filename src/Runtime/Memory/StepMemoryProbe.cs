using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>Peak memory of one training step, and the bytes held outside the arena for the parameters.</summary>
public sealed record StepMemory(ArenaStats Arena, long ParameterBytes)
{
    /// <summary>The arena's high-water mark: activations, gradients being formed and workspace of the graph.</summary>
    public long PeakBytes => Arena.MaxInUse;
}

/// <summary>
/// The project's measured peak: a fresh session per configuration (the arena's MaxInUse never goes
/// down, so sessions must not be shared between configurations), one warm-up step (first-run
/// allocations, memory-pattern planning), then the measured step. MaxInUse is cumulative, so the
/// figure is the larger of the two steps' peaks; with identical inputs they coincide in steady state.
/// </summary>
public static class StepMemoryProbe
{
    /// <summary>Opens a trainer on <paramref name="artifacts"/>, runs the warm-up step and the measured step on <paramref name="batch"/> (no optimizer step), and returns the arena statistics.</summary>
    /// <param name="artifacts">The configuration to measure.</param>
    /// <param name="batch">The inputs of both steps.</param>
    /// <param name="options">Session options; null: the <see cref="TrainerOptions"/> defaults.</param>
    public static StepMemory Measure(TrainingArtifacts artifacts, TrainingBatch batch, TrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(artifacts);
        ArgumentNullException.ThrowIfNull(batch);
        using var trainer = new Trainer(artifacts, options);
        trainer.Step(batch);
        trainer.LazyResetGrad();
        trainer.Step(batch);
        return new StepMemory(trainer.MemoryStats(), trainer.Parameters.Bytes);
    }
}
