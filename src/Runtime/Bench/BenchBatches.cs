using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>
/// The bench's data: a small pool of seeded random batches that every configuration sees in the same
/// order (floats standard normal, integers per <see cref="IntegerFill"/>). Cycling a few fixed batches
/// lets the loss fall, so "same loss after N steps" compares a real optimisation, not noise.
/// </summary>
public sealed class BenchBatches : IDisposable
{
    private readonly List<TrainingBatch> _pool = [];

    /// <summary>Draws the pool; batch <c>i</c> uses seed <paramref name="seed"/> + i, so equal arguments give equal batches.</summary>
    /// <param name="inputs">The training model's user inputs (float and int64 only).</param>
    /// <param name="batch">Size of each input's first symbolic dimension.</param>
    /// <param name="sequence">Size of every other symbolic dimension.</param>
    /// <param name="integers">How each int64 input is filled, by name; unnamed ones draw 0 or 1.</param>
    /// <param name="seed">Seed of the first batch.</param>
    /// <param name="poolSize">Batches in the pool; micro-steps cycle through them.</param>
    /// <exception cref="NotSupportedException">An input is neither float nor int64.</exception>
    public BenchBatches(IReadOnlyList<TensorSpec> inputs, long batch, long sequence, IReadOnlyDictionary<string, IntegerFill> integers, int seed, int poolSize = 2)
    {
        for (int i = 0; i < poolSize; i++)
        {
            var random = new Random(seed + i);
            var values = new TrainingBatch();
            foreach (TensorSpec input in inputs)
            {
                long[] shape = Shape(input, batch, sequence);
                int count = checked((int)shape.Aggregate(1L, (a, b) => checked(a * b)));
                switch (input.ElementType)
                {
                    case TensorElementType.Float:
                        values.Add(input.Name, Enumerable.Range(0, count).Select(_ => (float)Normal(random)).ToArray(), shape);
                        break;
                    case TensorElementType.Int64:
                        IntegerFill fill = integers.TryGetValue(input.Name, out IntegerFill? f) ? f : new IntegerFill(2);
                        values.Add(input.Name, Enumerable.Range(0, count).Select(_ => fill.Constant ?? random.NextInt64(fill.Bound)).ToArray(), shape);
                        break;
                    default:
                        values.Dispose();
                        throw new NotSupportedException($"bench input '{input.Name}' is {input.ElementType}; the bench draws float and int64 inputs");
                }
            }
            _pool.Add(values);
        }
    }

    /// <summary>The batch for 0-based micro-step <paramref name="microStep"/>: the pool in turn, so every configuration sees the same sequence.</summary>
    public TrainingBatch this[long microStep] => _pool[(int)(microStep % _pool.Count)];

    /// <summary>All batches of the pool, in order (calibration runs over them once); owned by this object.</summary>
    public IReadOnlyList<TrainingBatch> Pool => _pool;

    /// <summary>Releases the pool's native tensors.</summary>
    public void Dispose() => _pool.ForEach(b => b.Dispose());

    /// <summary>Fixed dims as they are; symbolic ones: the first is the batch, the others the sequence.</summary>
    private static long[] Shape(TensorSpec input, long batch, long sequence) =>
        input.Shape.Select((d, i) => d.Value ?? (i == 0 ? batch : sequence)).ToArray();

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
