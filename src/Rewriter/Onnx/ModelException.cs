namespace OnnxMemOpt.Onnx;

/// <summary>
/// Base of every failure caused by the input model rather than by a bug: the CLI maps each to exit
/// code 3 with <see cref="Exception.Message"/> as its one-line reason. Messages always start with
/// the file so that a pipeline log says which input was bad.
/// </summary>
public abstract class ModelException : Exception
{
    /// <summary>
    /// Builds the message "file: reason" or "file: node 'node': reason", with the reason on one line.
    /// </summary>
    /// <param name="file">The model's file or stream name.</param>
    /// <param name="reason">What is wrong, without the file name.</param>
    /// <param name="node">The node the problem is in, or null.</param>
    /// <param name="inner">The failure behind this one (a protobuf parse error, an I/O error), or null.</param>
    protected ModelException(string file, string reason, string? node, Exception? inner)
        : base(Format(file, reason, node), inner)
    {
        File = file;
        Reason = reason;
        Node = node;
    }

    /// <summary>The file (or stream name) the model came from.</summary>
    public string File { get; }

    /// <summary>Why it was refused, without the file name.</summary>
    public string Reason { get; }

    /// <summary>The node the problem is in, where there is one.</summary>
    public string? Node { get; }

    private static string Format(string file, string reason, string? node)
    {
        string oneLine = reason.ReplaceLineEndings(" ");
        return node is null ? $"{file}: {oneLine}" : $"{file}: node '{node}': {oneLine}";
    }
}

/// <summary>The bytes are not a well-formed ONNX model: truncated, not protobuf, not a model, or a
/// graph that is not a valid DAG (undefined inputs, duplicate outputs, cycles).</summary>
public sealed class InvalidModelException : ModelException
{
    /// <summary>A malformed model; see <see cref="ModelException"/> for the message it builds.</summary>
    /// <param name="file">The model's file or stream name.</param>
    /// <param name="reason">What is malformed, without the file name.</param>
    /// <param name="node">The node the problem is in, or null.</param>
    /// <param name="inner">The failure behind this one (usually the protobuf parser's), or null.</param>
    public InvalidModelException(string file, string reason, string? node = null, Exception? inner = null)
        : base(file, reason, node, inner) { }
}

/// <summary>A tensor's external data is unsafe or unreadable: an absolute location, a path that
/// leaves the model's folder, a missing file, or an offset/length past the file's end.</summary>
public sealed class ExternalDataException : ModelException
{
    /// <summary>
    /// An external-data reference refused or unreadable; see <see cref="ModelException"/> for the
    /// message it builds.
    /// </summary>
    /// <param name="file">The model's file or stream name.</param>
    /// <param name="reason">Which tensor and what is wrong with its data, without the model's file name.</param>
    /// <param name="node">The node the tensor belongs to (a Constant's value), or null.</param>
    /// <param name="inner">The I/O error behind this one, or null.</param>
    public ExternalDataException(string file, string reason, string? node = null, Exception? inner = null)
        : base(file, reason, node, inner) { }
}

/// <summary>The model exceeds a resource limit (nesting depth, node count, tensor bytes).</summary>
public sealed class ModelLimitException : ModelException
{
    /// <summary>
    /// A limit of <see cref="ModelLimits"/> exceeded; see <see cref="ModelException"/> for the message
    /// it builds.
    /// </summary>
    /// <param name="file">The model's file or stream name.</param>
    /// <param name="reason">Which limit was exceeded and by what, without the file name.</param>
    /// <param name="node">The node the problem is in, or null.</param>
    public ModelLimitException(string file, string reason, string? node = null)
        : base(file, reason, node, null) { }
}

/// <summary>The model is valid ONNX but this tool cannot process it as asked (for example an
/// unsupported op in a pass that must understand every node).</summary>
public sealed class UnsupportedModelException : ModelException
{
    /// <summary>
    /// A valid model this tool cannot handle as asked; see <see cref="ModelException"/> for the message
    /// it builds.
    /// </summary>
    /// <param name="file">The model's file or stream name.</param>
    /// <param name="reason">What is not supported, without the file name.</param>
    /// <param name="node">The node the problem is in, or null.</param>
    /// <param name="inner">The failure behind this one, or null.</param>
    public UnsupportedModelException(string file, string reason, string? node = null, Exception? inner = null)
        : base(file, reason, node, inner) { }
}
