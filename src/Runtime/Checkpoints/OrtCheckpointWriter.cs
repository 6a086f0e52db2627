using Google.FlatBuffers;

namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// Writes ONNX Runtime on-device training checkpoints: the FlatBuffer of
/// ort_training_checkpoint.fbs (root Checkpoint, file identifier "ODTC") with tensors as ort.fbs
/// defines them, built with the FlatBuffers runtime. Field slots are the schema's table order, the
/// same indices <see cref="OrtCheckpointReader"/> reads. ONNX Runtime's loader dereferences the
/// module state's two tensor vectors and every group's state vector without a null check, so they
/// are always written, empty or not.
/// </summary>
public static class OrtCheckpointWriter
{
    /// <summary>The checkpoint version ONNX Runtime 1.19's generator writes (read from its own artifacts).</summary>
    public const int CurrentVersion = 2;

    // ort.fbs TensorDataType.FLOAT.
    private const int FloatDataType = 1;

    // A FlatBuffer addresses at most 2 GiB; ONNX Runtime moves larger checkpoints to external data,
    // which this writer does not produce.
    private const long MaxBufferBytes = int.MaxValue - (64 << 20);

    /// <summary>Serialises <paramref name="checkpoint"/> (its version is written as given).</summary>
    public static byte[] ToBytes(OrtCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        long payload = checkpoint.AllParameters.Sum(TensorBytes)
            + checkpoint.OptimizerGroups.SelectMany(g => g.Parameters).SelectMany(p => p.Moments).Sum(TensorBytes);
        if (payload > MaxBufferBytes)
        {
            throw new NotSupportedException($"The checkpoint holds {payload:N0} bytes of tensors; a FlatBuffer checkpoint without external data holds at most {MaxBufferBytes:N0}.");
        }
        var builder = new FlatBufferBuilder((int)Math.Min(MaxBufferBytes, payload + (1 << 16)));

        // FlatBuffers are built children first: every offset must exist before its parent table starts.
        int module = ModuleState(builder, checkpoint);
        int groups = Vector(builder, checkpoint.OptimizerGroups.Select(g => OptimizerGroup(builder, g)).ToArray());
        int properties = PropertyBag(builder, checkpoint.Properties);

        builder.StartTable(4);
        builder.AddInt(0, checkpoint.Version, 0);
        builder.AddOffset(1, module, 0);
        builder.AddOffset(2, groups, 0);
        builder.AddOffset(3, properties, 0);
        int root = builder.EndTable();
        builder.Finish(root, OrtCheckpointReader.FileIdentifier);
        return builder.SizedByteArray();
    }

    /// <summary>Writes the checkpoint to <paramref name="path"/> through a temporary file beside it, so a failure leaves no partial file.</summary>
    public static void Write(OrtCheckpoint checkpoint, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes = ToBytes(checkpoint);
        string temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static long TensorBytes(CheckpointTensor tensor) => (tensor.Data.LongLength * sizeof(float)) + (tensor.Dims.Length * sizeof(long)) + tensor.Name.Length + 64;

    private static int ModuleState(FlatBufferBuilder builder, OrtCheckpoint checkpoint)
    {
        int trainable = Vector(builder, checkpoint.TrainableParameters.Select(t => Tensor(builder, t)).ToArray());
        int frozen = Vector(builder, checkpoint.FrozenParameters.Select(t => Tensor(builder, t)).ToArray());
        builder.StartTable(4);
        builder.AddOffset(0, trainable, 0);
        builder.AddOffset(1, frozen, 0);
        // is_nominal_state and has_external_data stay false: the tensors carry their data inline.
        return builder.EndTable();
    }

    private static int OptimizerGroup(FlatBufferBuilder builder, OptimizerGroupState group)
    {
        int name = builder.CreateString(group.Name).Value;
        int states = Vector(builder, group.Parameters.Select(p => ParameterState(builder, p)).ToArray());
        builder.StartTable(4);
        builder.AddOffset(0, name, 0);
        builder.AddLong(1, group.Step, 0);
        builder.AddFloat(2, group.InitialLearningRate, 0);
        builder.AddOffset(3, states, 0);
        return builder.EndTable();
    }

    private static int ParameterState(FlatBufferBuilder builder, ParameterMoments moments)
    {
        int name = builder.CreateString(moments.ParameterName).Value;
        int tensors = Vector(builder, moments.Moments.Select(t => Tensor(builder, t)).ToArray());
        builder.StartTable(2);
        builder.AddOffset(0, name, 0);
        builder.AddOffset(1, tensors, 0);
        return builder.EndTable();
    }

    private static int Tensor(FlatBufferBuilder builder, CheckpointTensor tensor)
    {
        int name = builder.CreateString(tensor.Name).Value;
        builder.StartVector(sizeof(long), tensor.Dims.Length, sizeof(long));
        for (int i = tensor.Dims.Length - 1; i >= 0; i--)
        {
            builder.AddLong(tensor.Dims[i]);
        }
        int dims = builder.EndVector().Value;
        // raw_data is a [uint8] vector of the floats' little-endian bytes: its length counts bytes,
        // and the floats go in as one block (the builder writes them little-endian).
        builder.StartVector(1, checked(tensor.Data.Length * sizeof(float)), sizeof(float));
        if (tensor.Data.Length > 0)
        {
            builder.Add(tensor.Data);
        }
        int raw = builder.EndVector().Value;

        builder.StartTable(7);
        builder.AddOffset(0, name, 0);
        builder.AddOffset(2, dims, 0);
        builder.AddInt(3, FloatDataType, 0);
        builder.AddOffset(4, raw, 0);
        return builder.EndTable();
    }

    private static int PropertyBag(FlatBufferBuilder builder, CheckpointProperties properties)
    {
        int ints = Vector(builder, properties.Ints.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p =>
        {
            int name = builder.CreateString(p.Key).Value;
            builder.StartTable(2);
            builder.AddOffset(0, name, 0);
            builder.AddLong(1, p.Value, 0);
            return builder.EndTable();
        }).ToArray());
        int floats = Vector(builder, properties.Floats.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p =>
        {
            int name = builder.CreateString(p.Key).Value;
            builder.StartTable(2);
            builder.AddOffset(0, name, 0);
            builder.AddFloat(1, p.Value, 0);
            return builder.EndTable();
        }).ToArray());
        int strings = Vector(builder, properties.Strings.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p =>
        {
            int name = builder.CreateString(p.Key).Value;
            int value = builder.CreateString(p.Value).Value;
            builder.StartTable(2);
            builder.AddOffset(0, name, 0);
            builder.AddOffset(1, value, 0);
            return builder.EndTable();
        }).ToArray());
        builder.StartTable(3);
        builder.AddOffset(0, ints, 0);
        builder.AddOffset(1, floats, 0);
        builder.AddOffset(2, strings, 0);
        return builder.EndTable();
    }

    /// <summary>A vector of table offsets (written back to front, as FlatBuffers require).</summary>
    private static int Vector(FlatBufferBuilder builder, int[] tables)
    {
        builder.StartVector(sizeof(int), tables.Length, sizeof(int));
        for (int i = tables.Length - 1; i >= 0; i--)
        {
            builder.AddOffset(tables[i]);
        }
        return builder.EndVector().Value;
    }
}
