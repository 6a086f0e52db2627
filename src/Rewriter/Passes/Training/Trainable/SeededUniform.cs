namespace OnnxMemOpt.Passes.Training.Trainable;

/// <summary>
/// Deterministic uniform draws for initial values. System.Random with a seed is specified to give
/// the same sequence on every platform and runtime version, so a training graph built twice with
/// the same options is byte-identical.
/// </summary>
public sealed class SeededUniform(int seed)
{
    private readonly Random _random = new(seed);

    /// <summary><paramref name="count"/> values uniform in [−bound, bound).</summary>
    public double[] Next(long count, double bound)
    {
        var values = new double[count];
        for (long i = 0; i < count; i++) values[i] = (_random.NextDouble() * 2 - 1) * bound;
        return values;
    }
}
