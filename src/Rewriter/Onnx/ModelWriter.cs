using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// Writes models so that a failure never leaves a half-written file: everything goes to a
/// temporary file in the target folder and is renamed over the target only once complete. A model
/// too large for one protobuf (2 GiB) has its largest initializers moved to a side file
/// "&lt;output&gt;.data" as ONNX external data instead of failing.
/// </summary>
public static class ModelWriter
{
    /// <summary>Serialised size above which initializers go to external data.</summary>
    public const long DefaultExternalizeThreshold = int.MaxValue - (64L << 20);

    public static void Save(OnnxModel model, string path, long externalizeThreshold = DefaultExternalizeThreshold)
    {
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

        List<TensorProto> moved = ChooseInitializersToExternalize(model.Proto, externalizeThreshold);
        if (moved.Count > 0 && model.BaseDirectory is not null)
        {
            // Tensors already external refer to files beside the input; inline none of that here.
            foreach (TensorProto t in model.Proto.Graph.Initializer)
            {
                if (TensorData.IsExternal(t) && !SamePath(model.BaseDirectory, directory))
                {
                    throw new UnsupportedModelException(model.FileName, "re-externalising a model that already has external data in another folder is not supported");
                }
            }
        }
        if (moved.Count == 0)
        {
            WriteAtomically(fullPath, stream => model.Proto.WriteTo(stream));
            return;
        }

        string dataName = Path.GetFileName(fullPath) + ".data";
        string dataPath = Path.Combine(directory, dataName);
        var originals = moved.Select(t => (Tensor: t, Raw: t.RawData, Location: t.HasDataLocation ? t.DataLocation : (TensorProto.Types.DataLocation?)null)).ToList();
        string dataTemp = TemporaryPath(dataPath);
        try
        {
            using (var data = new FileStream(dataTemp, FileMode.CreateNew, FileAccess.Write))
            {
                foreach (TensorProto tensor in moved)
                {
                    long offset = data.Position;
                    tensor.RawData.WriteTo(data);
                    tensor.ExternalData.Clear();
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = tensor.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    tensor.DataLocation = TensorProto.Types.DataLocation.External;
                    tensor.ClearRawData();
                }
                data.Flush(flushToDisk: true);
            }
            WriteAtomically(fullPath, stream => model.Proto.WriteTo(stream));
            File.Move(dataTemp, dataPath, overwrite: true);
        }
        finally
        {
            // The in-memory model stays as it was: the side file is a property of the output only.
            foreach (var (tensor, raw, location) in originals)
            {
                tensor.ExternalData.Clear();
                tensor.RawData = raw;
                if (location is { } l) tensor.DataLocation = l; else tensor.ClearDataLocation();
            }
            if (File.Exists(dataTemp)) File.Delete(dataTemp);
        }
    }

    /// <summary>Writes bytes produced by <paramref name="write"/> to <paramref name="path"/> via a temporary file and rename.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        string temp = TemporaryPath(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static string TemporaryPath(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? ".", $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");

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
