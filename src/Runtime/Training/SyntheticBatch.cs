using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>How to fill the symbolic dimensions and values of a synthetic batch.</summary>
public sealed record SyntheticBatchOptions
{
    /// <summary>Size given to each input's first dimension when it is symbolic.</summary>
    public long BatchSize { get; init; } = 4;

    /// <summary>Sizes of named symbolic dimensions (dim_param), e.g. "sequence" = 128.</summary>
    public IReadOnlyDictionary<string, long> Dims { get; init; } = new Dictionary<string, long>();

    /// <summary>Integer inputs (labels, token ids) are drawn from [0, IntegerUpperBound): 2 is a valid class count for any classifier.</summary>
    public long IntegerUpperBound { get; init; } = 2;

    /// <summary>Seed of the random draw: the same seed and specs give the same batch.</summary>
    public int Seed { get; init; }
}

/// <summary>
/// Draws one random batch from a model's user input specs: floats from a standard normal, integers
/// uniformly below <see cref="SyntheticBatchOptions.IntegerUpperBound"/>, booleans fair. Training on
/// one fixed batch must drive the loss down, which makes it a cheap end-to-end check.
/// </summary>
public static class SyntheticBatch
{
    /// <summary>Draws a batch for <paramref name="inputs"/>, shapes resolved by <see cref="ResolveShape"/>.</summary>
    /// <param name="inputs">The user inputs to fill (see <see cref="TrainingModelLayout.UserInputs"/>).</param>
    /// <param name="options">Sizes, integer bound and seed; null: the defaults.</param>
    /// <exception cref="ArgumentException">A symbolic dimension other than the first has no size.</exception>
    /// <exception cref="NotSupportedException">An input's element type is not float, double, int64, int32 or bool.</exception>
    public static TrainingBatch Create(IReadOnlyList<TensorSpec> inputs, SyntheticBatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new SyntheticBatchOptions();
        var random = new Random(options.Seed);
        var batch = new TrainingBatch();
        try
        {
            foreach (TensorSpec input in inputs)
            {
                long[] shape = ResolveShape(input, options);
                int count = checked((int)shape.Aggregate(1L, (a, b) => checked(a * b)));
                _ = input.ElementType switch
                {
                    TensorElementType.Float => batch.Add(input.Name, Fill(count, () => (float)Normal(random)), shape),
                    TensorElementType.Double => batch.Add(input.Name, Fill(count, () => Normal(random)), shape),
                    TensorElementType.Int64 => batch.Add(input.Name, Fill(count, () => random.NextInt64(options.IntegerUpperBound)), shape),
                    TensorElementType.Int32 => batch.Add(input.Name, Fill(count, () => (int)random.NextInt64(options.IntegerUpperBound)), shape),
                    TensorElementType.Bool => batch.Add(input.Name, Fill(count, () => random.Next(2) == 1), shape),
                    _ => throw new NotSupportedException($"Synthetic input '{input.Name}' has element type {input.ElementType}; supported: float, double, int64, int32, bool."),
                };
            }
        }
        catch
        {
            batch.Dispose();
            throw;
        }
        return batch;
    }

    /// <summary>Concrete shape: fixed dims, named dims from the options, else the batch size for the first dimension.</summary>
    public static long[] ResolveShape(TensorSpec input, SyntheticBatchOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        var shape = new long[input.Shape.Count];
        for (int d = 0; d < shape.Length; d++)
        {
            Dimension dim = input.Shape[d];
            if (dim.Value is { } value)
            {
                shape[d] = value;
            }
            else if (dim.Symbol is { } symbol && options.Dims.TryGetValue(symbol, out long named))
            {
                shape[d] = named;
            }
            else if (d == 0)
            {
                shape[d] = options.BatchSize;
            }
            else
            {
                throw new ArgumentException(
                    $"Input '{input.Name}' dimension {d} ('{dim.Symbol ?? "unnamed"}') is symbolic; give its size (e.g. --dim {dim.Symbol ?? "NAME"}=N).");
            }
        }
        return shape;
    }

    private static T[] Fill<T>(int count, Func<T> next)
    {
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = next();
        }
        return values;
    }

    // Box–Muller: two uniforms to one standard normal (the second is discarded for simplicity).
    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
