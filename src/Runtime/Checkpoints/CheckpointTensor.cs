namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>A named float32 tensor from a checkpoint (a parameter or one optimizer moment).</summary>
public sealed class CheckpointTensor
{
    /// <summary>Wraps <paramref name="data"/> without copying; its length must match the shape.</summary>
    /// <param name="name">The parameter's name, or the moment's ("momentum0", "momentum1").</param>
    /// <param name="dims">The shape; no dimension may be negative.</param>
    /// <param name="data">The values in row-major order.</param>
    /// <exception cref="ArgumentException">The shape's element count differs from <paramref name="data"/>'s length.</exception>
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

    /// <summary>The parameter's graph input name, or the moment's name within its <see cref="ParameterMoments"/>.</summary>
    public string Name { get; }

    /// <summary>The tensor's shape (empty for a scalar).</summary>
    public long[] Dims { get; }

    /// <summary>The values in row-major order, shared with whoever created the tensor.</summary>
    public float[] Data { get; }

    /// <summary>The number of elements of shape <paramref name="dims"/> (1 for a scalar).</summary>
    /// <exception cref="ArgumentException">A dimension is negative.</exception>
    /// <exception cref="OverflowException">The count does not fit in a long.</exception>
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

    /// <summary>Name and shape, for messages: <c>fc1.weight [64,32]</c>.</summary>
    public override string ToString() => $"{Name} [{string.Join(",", Dims)}]";
}
