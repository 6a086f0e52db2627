using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// Writes models so that the output loads where it is written and a failure never leaves a
/// half-written file. What a user expects of an output with external data:
/// <list type="bullet">
/// <item>Beside the input (same folder), its external tensors keep pointing at the input's data
/// files, which are there: nothing is copied.</item>
/// <item>In another folder, every external tensor's bytes go to one data file beside the output,
/// named after it ("&lt;output&gt;.data", the name onnx and ONNX Runtime write too), and the
/// tensors are re-pointed at it. Re-pointing at the input's files instead would need an absolute
/// or "..", location, which this project refuses on load (and so must not write), and the output
/// would break when the input folder moves. Only the tensors the output still holds are copied.</item>
/// <item>An output too large for one protobuf (2 GiB) has its largest inline initializers moved to
/// that same data file.</item>
/// </list>
/// The input is only read: the output may not be the input model or one of its data files. The
/// data file and the model are each written to a temporary file in the target folder first; both
/// are complete before either is renamed over its target, data file first, so a reader never sees
/// a model whose data file is missing or partial. External data whose file is absent (a model
/// shipped without its weights) keeps its reference, so the output is as loadable as the input.
/// </summary>
public static class ModelWriter
{
    /// <summary>Serialised size above which initializers go to external data.</summary>
    public const long DefaultExternalizeThreshold = int.MaxValue - (64L << 20);

    /// <summary>Suffix of the data file written beside an output (onnx's convention: "model.onnx.data").</summary>
    public const string DataFileSuffix = ".data";

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> as described above; throws
    /// <see cref="InvalidModelException"/> when the path is the input model or one of its data
    /// files, or its folder does not exist.
    /// </summary>
    /// <param name="model">The model to write; only read.</param>
    /// <param name="path">
    /// The output file; its data file, if one is needed, is this path plus
    /// <see cref="DataFileSuffix"/>.
    /// </param>
    /// <param name="externalizeThreshold">
    /// Serialised size above which the largest inline initializers move to the data file.
    /// </param>
    public static void Save(OnnxModel model, string path, long externalizeThreshold = DefaultExternalizeThreshold)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        string fullPath = Path.GetFullPath(path);
        if (model.BaseDirectory is not null && SamePath(fullPath, Path.GetFullPath(model.FileName)))
        {
            throw new InvalidModelException(model.FileName, "refusing to overwrite the input model; choose another output path");
        }
        string directory = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(directory))
        {
            throw new InvalidModelException(path, $"output folder '{directory}' does not exist");
        }
        HashSet<string> inputDataFiles = InputDataFiles(model);
        if (inputDataFiles.Contains(fullPath))
        {
            throw new InvalidModelException(model.FileName, $"refusing to overwrite '{path}': the model reads its external data from it; choose another output path");
        }

        // The output is a copy of the document: ByteStrings are immutable and shared, so this costs
        // the message structure only, and the caller's model never changes.
        ModelProto output = model.Proto.Clone();
        bool besideInput = model.BaseDirectory is not null && SamePath(model.BaseDirectory, directory);
        List<(TensorProto Tensor, ExternalDataReference Source)> relocated = besideInput ? [] : ToRelocate(model, output);
        List<TensorProto> externalized = ChooseInitializersToExternalize(output, externalizeThreshold);
        if (relocated.Count == 0 && externalized.Count == 0)
        {
            WriteAtomically(fullPath, stream => output.WriteTo(stream));
            return;
        }

        string dataName = Path.GetFileName(fullPath) + DataFileSuffix;
        string dataPath = Path.Combine(directory, dataName);
        if (inputDataFiles.Contains(dataPath))
        {
            throw new UnsupportedModelException(model.FileName, $"the output's data file '{dataPath}' is one this model reads its weights from; choose another output name");
        }
        string dataTemp = TemporaryPath(dataPath);
        string modelTemp = TemporaryPath(fullPath);
        try
        {
            using (var data = new FileStream(dataTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                foreach (var (tensor, source) in relocated)
                {
                    long offset = data.Position;
                    source.CopyTo(data);
                    PointAt(tensor, dataName, offset, source.Length);
                }
                foreach (TensorProto tensor in externalized)
                {
                    long offset = data.Position;
                    long length = tensor.RawData.Length;
                    tensor.RawData.WriteTo(data);
                    tensor.ClearRawData();
                    PointAt(tensor, dataName, offset, length);
                }
                data.Flush(flushToDisk: true);
            }
            WriteFile(modelTemp, stream => output.WriteTo(stream));
            File.Move(dataTemp, dataPath, overwrite: true);
            File.Move(modelTemp, fullPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(dataTemp)) File.Delete(dataTemp);
            if (File.Exists(modelTemp)) File.Delete(modelTemp);
        }
    }

    /// <summary>Writes bytes produced by <paramref name="write"/> to <paramref name="path"/> via a temporary file and rename.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        string temp = TemporaryPath(path);
        try
        {
            WriteFile(temp, write);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static void WriteFile(string path, Action<Stream> write)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    private static string TemporaryPath(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? ".", $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");

    /// <summary>Full paths of the files the model's external tensors name (locations already checked at load).</summary>
    private static HashSet<string> InputDataFiles(OnnxModel model)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        if (model.BaseDirectory is null)
        {
            return files;
        }
        foreach (TensorProto tensor in ModelTensors.External(model.Proto))
        {
            if (ExternalDataReference.LocationPath(tensor, model.BaseDirectory, model.FileName) is { } file)
            {
                files.Add(file);
            }
        }
        return files;
    }

    /// <summary>
    /// The output's external tensors whose data must follow it into another folder, each with its
    /// source checked (inside the input's folder, offset and length within the file, the size the
    /// dims need). A tensor whose data file is absent keeps its reference (see the class comment).
    /// </summary>
    private static List<(TensorProto, ExternalDataReference)> ToRelocate(OnnxModel model, ModelProto output)
    {
        var relocated = new List<(TensorProto, ExternalDataReference)>();
        foreach (TensorProto tensor in ModelTensors.External(output))
        {
            if (model.BaseDirectory is not null
                && ExternalDataReference.LocationPath(tensor, model.BaseDirectory, model.FileName) is { } file
                && !File.Exists(file))
            {
                continue;
            }
            relocated.Add((tensor, ExternalDataReference.Resolve(tensor, model.BaseDirectory, model.FileName, TensorData.ByteSize(tensor, model.FileName))));
        }
        return relocated;
    }

    private static void PointAt(TensorProto tensor, string location, long offset, long length)
    {
        tensor.ExternalData.Clear();
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
    }

    private static List<TensorProto> ChooseInitializersToExternalize(ModelProto model, long threshold)
    {
        long total = model.CalculateSizeLong();
        if (total <= threshold)
        {
            return [];
        }
        // Largest first: the fewest tensors leave the protobuf, and small constants stay inline.
        var chosen = new List<TensorProto>();
        foreach (TensorProto tensor in model.Graph.Initializer.Where(t => t.HasRawData).OrderByDescending(t => t.RawData.Length))
        {
            if (total <= threshold)
            {
                break;
            }
            chosen.Add(tensor);
            total -= tensor.RawData.Length;
        }
        return chosen;
    }

    /// <summary>Bytes <paramref name="model"/> serialises to, also past 2 GiB (where protobuf's own count overflows).</summary>
    public static long SerializedSize(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.CalculateSizeLong();
    }

    /// <summary>Largest document protobuf can serialise or parse (its sizes are signed 32-bit).</summary>
    public const long MaxProtobufBytes = int.MaxValue;

    private static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);

    /// <summary>Serialised size without the int overflow of CalculateSize on huge models.</summary>
    private static long CalculateSizeLong(this ModelProto model)
    {
        // Measure everything but the raw initializer bytes with protobuf, then add those: the
        // bulk is what overflows int, and it is known exactly without serialising.
        var withRaw = model.Graph.Initializer.Where(t => t.HasRawData).ToList();
        var raw = withRaw.Select(t => t.RawData).ToList();
        long size = 0;
        try
        {
            foreach (TensorProto t in withRaw)
            {
                size += t.RawData.Length + 16;
                t.RawData = ByteString.Empty;
            }
            size += model.CalculateSize();
        }
        finally
        {
            for (int i = 0; i < withRaw.Count; i++) withRaw[i].RawData = raw[i];
        }
        return size;
    }
}
