using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>The user inputs of one step (data, labels), by graph input name. Owns its OrtValues.</summary>
public sealed class TrainingBatch : IDisposable
{
    private readonly Dictionary<string, OrtValue> _values = new(StringComparer.Ordinal);

    /// <summary>The inputs added so far, by graph input name; the trainer binds each to the input of that name.</summary>
    public IReadOnlyDictionary<string, OrtValue> Values => _values;

    /// <summary>Adds <paramref name="data"/> (pinned, not copied) as input <paramref name="name"/> with <paramref name="shape"/>.</summary>
    public TrainingBatch Add<T>(string name, T[] data, params long[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(data);
        long count = shape.Aggregate(1L, (a, b) => checked(a * b));
        if (count != data.Length)
        {
            throw new ArgumentException($"Input '{name}' shape [{string.Join(",", shape)}] holds {count} values, not {data.Length}.", nameof(data));
        }
        return Add(name, OrtValue.CreateTensorValueFromMemory(data, shape));
    }

    /// <summary>Adds an OrtValue the batch takes ownership of.</summary>
    public TrainingBatch Add(string name, OrtValue value)
    {
        if (!_values.TryAdd(name, value))
        {
            value.Dispose();
            throw new ArgumentException($"Input '{name}' was added twice.", nameof(name));
        }
        return this;
    }

    /// <summary>Frees the OrtValues (unpinning arrays given to <see cref="Add{T}"/>) and empties the batch.</summary>
    public void Dispose()
    {
        foreach (OrtValue value in _values.Values)
        {
            value.Dispose();
        }
        _values.Clear();
    }
}
