using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// The trainer's own checkpoint: everything that determines the next steps, stored exactly (raw
/// float32 bits), so that resuming continues bit for bit. Little-endian layout, version 1:
/// <code>
///   "OMOTRAIN"                     8-byte magic
///   int32   version                1
///   int64   optimizer_step         AdamW steps taken
///   uint8   gradient_reset_pending 1: the next train step overwrites the gradients
///   int32   parameter_count
///   per parameter:
///     int32 name_length, UTF-8 name
///     int32 rank, int64 dims[rank]
///     uint8 flags                  bit 0: gradient follows, bit 1: first and second moments follow
///     float32 values[n] [, gradient[n]] [, moment1[n], moment2[n]]
///   "OMOTEND!"                     8-byte end marker (detects truncation)
/// </code>
/// ONNX Runtime's ODTC format is not written: it has no slot for the accumulated gradients.
/// </summary>
public static class TrainerCheckpoint
{
    /// <summary>The layout version written after the magic; reading refuses any other.</summary>
    public const int Version = 1;
    private static readonly byte[] Magic = "OMOTRAIN"u8.ToArray();
    private static readonly byte[] EndMarker = "OMOTEND!"u8.ToArray();

    /// <summary>Scalar state saved next to the tensors.</summary>
    public sealed record State(long OptimizerStep, bool GradientResetPending);

    /// <summary>True when <paramref name="path"/> starts with this format's magic (so a CLI can tell it from an ODTC checkpoint).</summary>
    public static bool IsTrainerCheckpoint(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return false;
        }
        Span<byte> head = stackalloc byte[8];
        using FileStream stream = File.OpenRead(path);
        return stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) == head.Length && head.SequenceEqual(Magic);
    }

    /// <summary>Saves every parameter's values, accumulated gradient and moments with <paramref name="state"/>; written to <c>path.tmp</c> and renamed, so an interrupted save leaves any earlier file intact.</summary>
    /// <param name="path">The checkpoint file; replaced if it exists.</param>
    /// <param name="parameters">The trainer's parameters (gradients and moments included where allocated).</param>
    /// <param name="state">The optimizer step count and whether the next step resets the gradients.</param>
    public static void Write(string path, ParameterStore parameters, State state)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(state);
        // Written beside the target and renamed, so an interrupted save never leaves a half file.
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write(state.OptimizerStep);
            writer.Write((byte)(state.GradientResetPending ? 1 : 0));
            writer.Write(parameters.All.Count);
            foreach (TrainableParameter parameter in parameters.All)
            {
                byte[] name = Encoding.UTF8.GetBytes(parameter.Name);
                writer.Write(name.Length);
                writer.Write(name);
                writer.Write(parameter.Dims.Length);
                foreach (long dim in parameter.Dims)
                {
                    writer.Write(dim);
                }
                writer.Write(Flags(parameter));
                WriteFloats(writer, parameter.Values);
                if (!parameter.Gradients.IsEmpty)
                {
                    WriteFloats(writer, parameter.Gradients);
                }
                if (!parameter.FirstMoments.IsEmpty)
                {
                    WriteFloats(writer, parameter.FirstMoments);
                    WriteFloats(writer, parameter.SecondMoments);
                }
            }
            writer.Write(EndMarker);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads <paramref name="path"/> into <paramref name="parameters"/>, which must have the same names, shapes and kinds.</summary>
    public static State Read(string path, ParameterStore parameters)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(parameters);
        byte[] bytes = File.ReadAllBytes(path);
        var reader = new Reader(bytes, path);
        if (!reader.Bytes(Magic.Length, "magic").SequenceEqual(Magic))
        {
            throw reader.Corrupt("not an OnnxMemOpt trainer checkpoint (magic 'OMOTRAIN' missing)");
        }
        int version = reader.Int32("version");
        if (version != Version)
        {
            throw reader.Corrupt($"version {version} is not supported (this build reads version {Version})");
        }
        long step = reader.Int64("optimizer_step");
        bool resetPending = reader.Bytes(1, "gradient_reset_pending")[0] != 0;
        int count = reader.Int32("parameter_count");
        if (count != parameters.All.Count)
        {
            throw reader.Corrupt($"holds {count} parameters, the model {parameters.All.Count}");
        }

        // Everything is validated into a staging list first, so a bad file leaves the trainer untouched.
        var staged = new List<(TrainableParameter Parameter, int Offset)>();
        for (int i = 0; i < count; i++)
        {
            string name = Encoding.UTF8.GetString(reader.Bytes(reader.Int32("name length"), "name"));
            if (!parameters.Contains(name))
            {
                throw reader.Corrupt($"parameter '{name}' is not in the model");
            }
            TrainableParameter parameter = parameters[name];
            int rank = reader.Int32($"rank of '{name}'");
            if (rank != parameter.Dims.Length)
            {
                throw reader.Corrupt($"'{name}' has rank {rank}, the model's parameter {parameter.Dims.Length}");
            }
            for (int d = 0; d < rank; d++)
            {
                long dim = reader.Int64($"dims of '{name}'");
                if (dim != parameter.Dims[d])
                {
                    throw reader.Corrupt($"'{name}' dimension {d} is {dim}, the model's {parameter.Dims[d]}");
                }
            }
            byte flags = reader.Bytes(1, $"flags of '{name}'")[0];
            if (flags != Flags(parameter))
            {
                throw reader.Corrupt($"'{name}' has flags {flags}, the model needs {Flags(parameter)} (trainable set differs)");
            }
            int tensors = 1 + ((flags & 1) != 0 ? 1 : 0) + ((flags & 2) != 0 ? 2 : 0);
            staged.Add((parameter, reader.Position));
            reader.Bytes(checked((int)(parameter.ElementCount * sizeof(float) * tensors)), $"data of '{name}'");
        }
        if (!reader.Bytes(EndMarker.Length, "end marker").SequenceEqual(EndMarker))
        {
            throw reader.Corrupt("end marker missing");
        }

        foreach ((TrainableParameter parameter, int offset) in staged)
        {
            int size = checked((int)(parameter.ElementCount * sizeof(float)));
            int at = offset;
            CopyFloats(bytes, ref at, size, parameter.Values);
            if (!parameter.Gradients.IsEmpty)
            {
                CopyFloats(bytes, ref at, size, parameter.Gradients);
            }
            if (!parameter.FirstMoments.IsEmpty)
            {
                CopyFloats(bytes, ref at, size, parameter.FirstMoments);
                CopyFloats(bytes, ref at, size, parameter.SecondMoments);
            }
        }
        return new State(step, resetPending);
    }

    private static byte Flags(TrainableParameter parameter) =>
        (byte)((parameter.Gradients.IsEmpty ? 0 : 1) | (parameter.FirstMoments.IsEmpty ? 0 : 2));

    private static void WriteFloats(BinaryWriter writer, ReadOnlySpan<float> values)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Trainer checkpoints are little-endian.");
        }
        writer.Write(MemoryMarshal.AsBytes(values));
    }

    private static void CopyFloats(byte[] bytes, ref int at, int size, Span<float> into)
    {
        MemoryMarshal.Cast<byte, float>(bytes.AsSpan(at, size)).CopyTo(into);
        at += size;
    }

    private sealed class Reader(byte[] bytes, string path)
    {
        public int Position { get; private set; }

        public Exception Corrupt(string reason) => new InvalidDataException($"{path}: {reason}.");

        public ReadOnlySpan<byte> Bytes(int count, string what)
        {
            if (count < 0 || count > bytes.Length - Position)
            {
                throw Corrupt($"truncated: {what} needs {count} bytes at offset {Position} of {bytes.Length}");
            }
            ReadOnlySpan<byte> span = bytes.AsSpan(Position, count);
            Position += count;
            return span;
        }

        public int Int32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, what));

        public long Int64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, what));
    }
}
