using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>Parses model files into <see cref="OnnxModel"/>, turning every kind of bad input into a typed exception.</summary>
internal static class ModelReader
{
    // Protobuf cannot represent a message of 2 GiB or more; larger models keep weights externally.
    private const long MaxProtobufBytes = int.MaxValue;

    public static OnnxModel Load(string path, ModelLimits limits)
    {
        var info = new FileInfo(path);
        if (Directory.Exists(path))
        {
            throw new InvalidModelException(path, "is a directory, not a model file");
        }
        if (!info.Exists)
        {
            throw new InvalidModelException(path, "no such file");
        }
        if (info.Length > MaxProtobufBytes)
        {
            throw new ModelLimitException(path, $"is {info.Length} bytes; an ONNX protobuf must be under 2 GiB (keep weights in external data)");
        }
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            return Load(stream, path, Path.GetDirectoryName(Path.GetFullPath(path)), limits);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidModelException(path, $"cannot be read: {e.Message}", inner: e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidModelException(path, $"cannot be read: {e.Message}", inner: e);
        }
    }

    public static OnnxModel Load(Stream stream, string name, string? baseDirectory, ModelLimits limits)
    {
        ModelProto proto;
        try
        {
            using var input = CodedInputStream.CreateWithLimits(stream, (int)MaxProtobufBytes, limits.ProtobufRecursionLimit);
            proto = ModelProto.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            string reason = e.Message.Contains("recursion", StringComparison.OrdinalIgnoreCase)
                ? $"nesting is deeper than the limit ({limits.MaxSubgraphDepth} graph levels)"
                : $"is not a valid ONNX protobuf ({e.Message.TrimEnd('.')})";
            throw new InvalidModelException(name, reason, inner: e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OverflowException)
        {
            throw new InvalidModelException(name, $"is not a valid ONNX protobuf ({e.Message.TrimEnd('.')})", inner: e);
        }

        // Almost any byte string parses as *some* protobuf message (as unknown fields), so the
        // fields every ONNX model must have are what tells a model from other data.
        if (proto.Graph is null)
        {
            throw new InvalidModelException(name, "is not an ONNX model (it has no graph)");
        }
        if (!proto.HasIrVersion || proto.IrVersion <= 0)
        {
            throw new InvalidModelException(name, "is not an ONNX model (it has no ir_version)");
        }

        var model = new OnnxModel(proto, name, baseDirectory, limits);
        ModelValidator.Validate(model);
        return model;
    }
}
