namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>A named float32 tensor from a checkpoint (a parameter or one optimizer moment).</summary>
public sealed class CheckpointTensor
{
    public CheckpointTensor(string name, long[] dims, float[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(data);
        long count = ElementCount(dims);
        if (count != data.Length)
        {
            throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(",", dims)}] ({count} elements) but {data.Length} values.", nameof(data));
        }
        Name = name;
        Dims = dims;
        Data = data;
    }

    public string Name { get; }

    public long[] Dims { get; }

    public float[] Data { get; }

    public static long ElementCount(IReadOnlyList<long> dims)
    {
        long count = 1;
        foreach (long dim in dims)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"Negative dimension {dim} in shape [{string.Join(",", dims)}].", nameof(dims));
            }
            count = checked(count * dim);
        }
        return count;
    }

    public override string ToString() => $"{Name} [{string.Join(",", Dims)}]";
}
