namespace OnnxMemOpt.Runtime.Training;

/// <summary>The learning rate for each optimizer step.</summary>
public interface ILearningRateSchedule
{
    /// <summary>Learning rate of the optimizer step with 0-based index <paramref name="optimizerStep"/>.</summary>
    float LearningRate(long optimizerStep);
}

/// <summary>The same learning rate at every step.</summary>
public sealed record ConstantSchedule(float Rate) : ILearningRateSchedule
{
    /// <inheritdoc/>
    public float LearningRate(long optimizerStep) => Rate;
}

/// <summary>
/// Linear warm-up from Peak/WarmupSteps to Peak over the first <see cref="WarmupSteps"/> steps, then a
/// half cosine from Peak down to <see cref="Minimum"/> at <see cref="TotalSteps"/>, and Minimum after.
/// Warm-up starts at Peak/WarmupSteps rather than 0 so that no optimizer step is wasted.
/// </summary>
public sealed record WarmupCosineSchedule(float Peak, long WarmupSteps, long TotalSteps, float Minimum = 0f) : ILearningRateSchedule
{
    /// <inheritdoc/>
    public float LearningRate(long optimizerStep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(optimizerStep);
        if (optimizerStep < WarmupSteps)
        {
            return Peak * (optimizerStep + 1) / WarmupSteps;
        }
        long decaySteps = TotalSteps - WarmupSteps;
        if (decaySteps <= 0)
        {
            return Peak;
        }
        double progress = Math.Min(1.0, (double)(optimizerStep - WarmupSteps) / decaySteps);
        return (float)(Minimum + ((Peak - Minimum) * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }
}
