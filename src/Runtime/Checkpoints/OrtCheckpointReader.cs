using System.Runtime.InteropServices;

namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// Reads ONNX Runtime on-device training checkpoints. Field indices follow the table order of
/// ort_training_checkpoint.fbs (Checkpoint, ModuleState, OptimizerGroup, ...) and ort.fbs (Tensor).
/// Only float32 tensors are accepted: they are what ORT's training artifacts hold.
/// </summary>
public static class OrtCheckpointReader
{
    /// <summary>The FlatBuffer file identifier (bytes 4–7) of an ONNX Runtime training checkpoint; anything else is refused.</summary>
    public const string FileIdentifier = "ODTC";

    // ort.fbs TensorDataType.FLOAT.
    private const int FloatDataType = 1;

    /// <summary>Reads a checkpoint file; a directory is accepted when it holds exactly one file named "checkpoint" or "*.ckpt".</summary>
    public static OrtCheckpoint Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string file = ResolveFile(path);
        return Parse(File.ReadAllBytes(file), file);
    }

    /// <summary>Parses checkpoint bytes; <paramref name="sourceName"/> names the file in errors and locates external data.</summary>
    public static OrtCheckpoint Parse(byte[] bytes, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var view = new FlatBufferView(bytes, sourceName);
        if (view.Length < 8)
        {
            throw view.Corrupt($"only {view.Length} bytes, too short for a FlatBuffer header");
        }
        if (view.FileIdentifier != FileIdentifier)
        {
            throw view.Corrupt($"file identifier is '{Printable(view.FileIdentifier)}', expected '{FileIdentifier}'");
        }

        FlatTable root = view.Root("Checkpoint");
        int version = root.Int32(0, "version");
        var external = new Lazy<byte[]>(() => ReadExternalData(sourceName));

        var trainable = new List<CheckpointTensor>();
        var frozen = new List<CheckpointTensor>();
        if (root.Table(1, "module_state") is { } module)
        {
            if (module.Bool(2, "is_nominal_state"))
            {
                // A nominal state holds names and shapes only; training needs the values.
                throw new NotSupportedException($"{sourceName}: a nominal checkpoint (parameter names without data) cannot be trained from.");
            }
            ReadTensors(view, module.Vector(0, "requires_grad_params", 4), external, trainable);
            ReadTensors(view, module.Vector(1, "frozen_params", 4), external, frozen);
        }

        return new OrtCheckpoint
        {
            Version = version,
            TrainableParameters = trainable,
            FrozenParameters = frozen,
            OptimizerGroups = ReadOptimizerGroups(view, root.Vector(2, "optimizer_groups", 4), external),
            Properties = root.Table(3, "property_bag") is { } bag ? ReadProperties(bag) : CheckpointProperties.Empty,
        };
    }

    /// <summary>The checkpoint file for <paramref name="path"/>: the path itself, or the single checkpoint inside a folder.</summary>
    public static string ResolveFile(string path)
    {
        if (File.Exists(path))
        {
            return path;
        }
        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        string[] candidates = Directory.EnumerateFiles(path)
            .Where(f => Path.GetFileName(f) == "checkpoint" || f.EndsWith(".ckpt", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToArray();
        return candidates.Length == 1
            ? candidates[0]
            : throw new FileNotFoundException(
                $"Checkpoint folder '{path}' holds {candidates.Length} files named 'checkpoint' or '*.ckpt'; pass the file itself.", path);
    }

    private static void ReadTensors(FlatBufferView view, FlatVector tensors, Lazy<byte[]> external, List<CheckpointTensor> into)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            into.Add(ReadTensor(view, tensors.TableAt(i), external));
        }
    }

    private static CheckpointTensor ReadTensor(FlatBufferView view, FlatTable tensor, Lazy<byte[]> external)
    {
        string name = tensor.String(0, "name") ?? throw view.Corrupt("a tensor has no name");
        FlatVector dimsVector = tensor.Vector(2, "dims", 8);
        long[] dims = new long[dimsVector.Count];
        for (int d = 0; d < dims.Length; d++)
        {
            dims[d] = dimsVector.Int64At(d);
            if (dims[d] < 0)
            {
                throw view.Corrupt($"tensor '{name}' has negative dimension {dims[d]}");
            }
        }
        int dataType = tensor.Int32(3, "data_type");
        if (dataType != FloatDataType)
        {
            throw view.Corrupt($"tensor '{name}' has element type {dataType}; only float32 (1) is supported");
        }

        long count;
        try
        {
            count = CheckpointTensor.ElementCount(dims);
        }
        catch (OverflowException)
        {
            throw view.Corrupt($"tensor '{name}' shape [{string.Join(",", dims)}] overflows");
        }
        if (count > Array.MaxLength)
        {
            throw view.Corrupt($"tensor '{name}' has {count} elements, more than an array can hold");
        }

        FlatVector raw = tensor.Vector(4, "raw_data", 1);
        long externalOffset = tensor.Int64(6, "external_data_offset", -1);
        ReadOnlySpan<byte> bytes;
        if (raw.Count > 0)
        {
            bytes = raw.Bytes;
        }
        else if (externalOffset >= 0)
        {
            byte[] file = external.Value;
            if (externalOffset > file.Length - (count * 4))
            {
                throw view.Corrupt($"tensor '{name}' external data at offset {externalOffset} (+{count * 4}) lies outside the {file.Length}-byte data file");
            }
            bytes = file.AsSpan((int)externalOffset, (int)(count * 4));
        }
        else if (count == 0)
        {
            return new CheckpointTensor(name, dims, []);
        }
        else
        {
            throw view.Corrupt($"tensor '{name}' has no data");
        }

        // Checked before allocating: the data must already be in the file, so a corrupt shape fails here.
        if (bytes.Length != count * 4)
        {
            throw view.Corrupt($"tensor '{name}' shape [{string.Join(",", dims)}] needs {count * 4} bytes but raw_data has {bytes.Length}");
        }
        var data = new float[count];
        // FlatBuffers store little-endian data, as does every platform .NET runs this on.
        MemoryMarshal.Cast<byte, float>(bytes).CopyTo(data);
        return new CheckpointTensor(name, dims, data);
    }

    private static List<OptimizerGroupState> ReadOptimizerGroups(FlatBufferView view, FlatVector groups, Lazy<byte[]> external)
    {
        var result = new List<OptimizerGroupState>(groups.Count);
        for (int g = 0; g < groups.Count; g++)
        {
            FlatTable group = groups.TableAt(g);
            FlatVector states = group.Vector(3, "optimizer_states", 4);
            var parameters = new List<ParameterMoments>(states.Count);
            for (int s = 0; s < states.Count; s++)
            {
                FlatTable state = states.TableAt(s);
                string parameter = state.String(0, "param_name") ?? throw view.Corrupt("an optimizer state has no parameter name");
                var moments = new List<CheckpointTensor>();
                ReadTensors(view, state.Vector(1, "momentums", 4), external, moments);
                parameters.Add(new ParameterMoments(parameter, moments));
            }
            result.Add(new OptimizerGroupState(
                group.String(0, "group_name") ?? string.Empty,
                group.Int64(1, "step"),
                group.Single(2, "initial_learning_rate"),
                parameters));
        }
        return result;
    }

    private static CheckpointProperties ReadProperties(FlatTable bag)
    {
        var ints = new Dictionary<string, long>();
        var floats = new Dictionary<string, float>();
        var strings = new Dictionary<string, string>();
        FlatVector intVector = bag.Vector(0, "ints", 4);
        for (int i = 0; i < intVector.Count; i++)
        {
            FlatTable p = intVector.TableAt(i);
            ints[p.String(0, "name") ?? string.Empty] = p.Int64(1, "value");
        }
        FlatVector floatVector = bag.Vector(1, "floats", 4);
        for (int i = 0; i < floatVector.Count; i++)
        {
            FlatTable p = floatVector.TableAt(i);
            floats[p.String(0, "name") ?? string.Empty] = p.Single(1, "value");
        }
        FlatVector stringVector = bag.Vector(2, "strings", 4);
        for (int i = 0; i < stringVector.Count; i++)
        {
            FlatTable p = stringVector.TableAt(i);
            strings[p.String(0, "name") ?? string.Empty] = p.String(1, "value") ?? string.Empty;
        }
        return new CheckpointProperties(ints, floats, strings);
    }

    // ORT writes tensors of large checkpoints to "<checkpoint>.data" and stores offsets into it.
    private static byte[] ReadExternalData(string checkpointPath)
    {
        string dataPath = checkpointPath + ".data";
        return File.Exists(dataPath)
            ? File.ReadAllBytes(dataPath)
            : throw new InvalidDataException($"{checkpointPath}: tensors refer to external data but '{dataPath}' does not exist.");
    }

    private static string Printable(string? identifier) =>
        identifier is null ? "" : new string(identifier.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
