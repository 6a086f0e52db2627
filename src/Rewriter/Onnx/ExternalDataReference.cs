using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// A tensor's external_data entry (location, offset, length), checked against the model's folder.
/// Safety rule: a model may only read files inside its own folder. Absolute locations, any ".."
/// segment and symbolic links that lead outside are refused before a file is opened.
/// </summary>
/// <param name="Location">The location as checked: relative to the model's folder.</param>
/// <param name="FullPath">The data file's absolute path, inside the model's folder.</param>
/// <param name="Offset">Where the tensor's bytes start in the file.</param>
/// <param name="Length">
/// How many bytes the tensor has there (the rest of the file when the entry gives no length).
/// </param>
public sealed record ExternalDataReference(string Location, string FullPath, long Offset, long Length)
{
    /// <summary>
    /// Checks only that the location is a safe relative path inside the model's folder (run at
    /// load time for every external tensor). Whether the file exists and is long enough is checked
    /// by <see cref="Resolve(TensorProto, string, string, long?)"/> when the data is first needed,
    /// so that commands which never read weights (inspect, rewrite --passes none) still work on a
    /// model shipped without them.
    /// </summary>
    public static void CheckLocation(TensorProto tensor, string? baseDirectory, string modelFile) =>
        Resolve(tensor, baseDirectory, modelFile, expectedBytes: null, requireFile: false);

    /// <summary>Resolves and checks a tensor's external data; throws <see cref="ExternalDataException"/>.</summary>
    public static ExternalDataReference Resolve(TensorProto tensor, string? baseDirectory, string modelFile, long? expectedBytes) =>
        Resolve(tensor, baseDirectory, modelFile, expectedBytes, requireFile: true)!;

    /// <summary>
    /// The full path of the file a tensor's external data names, after the same safety checks (throws
    /// <see cref="ExternalDataException"/>); null when the model has no folder. Does not open the file.
    /// </summary>
    public static string? LocationPath(TensorProto tensor, string? baseDirectory, string modelFile)
    {
        Resolve(tensor, baseDirectory, modelFile, expectedBytes: null, requireFile: false, out string? fullPath);
        return fullPath;
    }

    private static ExternalDataReference? Resolve(TensorProto tensor, string? baseDirectory, string modelFile, long? expectedBytes, bool requireFile) =>
        Resolve(tensor, baseDirectory, modelFile, expectedBytes, requireFile, out _);

    private static ExternalDataReference? Resolve(TensorProto tensor, string? baseDirectory, string modelFile, long? expectedBytes, bool requireFile, out string? resolvedPath)
    {
        resolvedPath = null;
        string tensorName = string.IsNullOrEmpty(tensor.Name) ? "<unnamed>" : tensor.Name;
        string Fail(string reason) => throw new ExternalDataException(modelFile, $"tensor '{tensorName}': external data {reason}");

        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (StringStringEntryProto entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location":
                    location = entry.Value;
                    break;
                case "offset":
                    if (!long.TryParse(entry.Value, out offset) || offset < 0)
                    {
                        Fail($"offset '{entry.Value}' is not a non-negative integer");
                    }
                    break;
                case "length":
                    if (!long.TryParse(entry.Value, out long parsed) || parsed < 0)
                    {
                        Fail($"length '{entry.Value}' is not a non-negative integer");
                    }
                    length = parsed;
                    break;
            }
        }

        if (string.IsNullOrEmpty(location))
        {
            Fail("has no location");
        }
        if (baseDirectory is null)
        {
            if (!requireFile)
            {
                return null;
            }
            Fail("cannot be resolved: the model was not loaded from a file");
        }
        string relative = location!;
        if (Path.IsPathRooted(relative) || relative.StartsWith('\\') || (relative.Length >= 2 && relative[1] == ':'))
        {
            Fail($"location '{relative}' is absolute; only paths inside the model's folder are allowed");
        }
        string[] segments = relative.Split('/', '\\');
        if (segments.Any(s => s == ".."))
        {
            Fail($"location '{relative}' contains '..'; only paths inside the model's folder are allowed");
        }
        if (relative.Contains('\0'))
        {
            Fail("location contains a NUL character");
        }

        string root = Path.GetFullPath(baseDirectory!);
        string rootWithSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        string fullPath = Path.GetFullPath(Path.Combine(root, relative));
        if (!fullPath.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            Fail($"location '{relative}' leaves the model's folder");
        }

        var info = new FileInfo(fullPath);
        // A link inside the folder may still point outside it: follow it before opening anything.
        FileSystemInfo? target = info.Exists ? info.ResolveLinkTarget(returnFinalTarget: true) : null;
        if (target is not null && !Path.GetFullPath(target.FullName).StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            Fail($"location '{relative}' is a link that leaves the model's folder");
        }
        resolvedPath = fullPath;
        if (!requireFile)
        {
            return null;
        }
        if (!info.Exists)
        {
            Fail($"file '{relative}' does not exist");
        }

        long fileLength = (target as FileInfo)?.Length ?? info.Length;
        if (offset > fileLength)
        {
            Fail($"offset {offset} is past the end of '{relative}' ({fileLength} bytes)");
        }
        long actualLength = length ?? fileLength - offset;
        if (actualLength > fileLength - offset)
        {
            Fail($"offset {offset} + length {actualLength} is past the end of '{relative}' ({fileLength} bytes)");
        }
        if (expectedBytes is { } expected && expected != actualLength)
        {
            Fail($"holds {actualLength} bytes but the tensor's dims and type need {expected}");
        }
        return new ExternalDataReference(relative, fullPath, offset, actualLength);
    }

    /// <summary>Reads the bytes (read-only open; the file is never opened for writing).</summary>
    public byte[] ReadAll(string modelFile, long maxBytes)
    {
        if (Length > maxBytes || Length > Array.MaxLength)
        {
            throw new ModelLimitException(modelFile, $"external data '{Location}' is {Length} bytes, over the limit of {maxBytes}");
        }
        var buffer = new byte[Length];
        using var stream = new FileStream(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        stream.Seek(Offset, SeekOrigin.Begin);
        stream.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>
    /// Streams the bytes into <paramref name="destination"/> without holding them in memory at once:
    /// one tensor of a large language model can be larger than any .NET array.
    /// </summary>
    public void CopyTo(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var stream = new FileStream(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
        stream.Seek(Offset, SeekOrigin.Begin);
        var buffer = new byte[Math.Min(Length, 1 << 20)];
        long left = Length;
        while (left > 0)
        {
            int chunk = (int)Math.Min(left, buffer.Length);
            stream.ReadExactly(buffer, 0, chunk);
            destination.Write(buffer, 0, chunk);
            left -= chunk;
        }
    }
}
