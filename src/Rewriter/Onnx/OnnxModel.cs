using Google.Protobuf;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Onnx;

/// <summary>
/// A loaded ONNX model: the protobuf document, where it came from (for messages and for external
/// data, which is resolved relative to the model's folder), and the graph IR over it. The IR edits
/// the same protobuf objects, so saving writes exactly what the passes changed and nothing else.
/// </summary>
public sealed class OnnxModel
{
    private OnnxGraph? _graph;

    internal OnnxModel(ModelProto proto, string fileName, string? baseDirectory, ModelLimits limits)
    {
        Proto = proto;
        FileName = fileName;
        BaseDirectory = baseDirectory;
        Limits = limits;
    }

    /// <summary>The protobuf document; the graph IR edits it in place, and saving writes it as it stands.</summary>
    public ModelProto Proto { get; }

    /// <summary>The path (or stream name) used in every message about this model.</summary>
    public string FileName { get; }

    /// <summary>Folder that external data locations are relative to; null for streams.</summary>
    public string? BaseDirectory { get; }

    /// <summary>The limits the model was loaded under; reading external data is bounded by them too.</summary>
    public ModelLimits Limits { get; }

    /// <summary>The main graph's IR (built on first use, after the loader validated it).</summary>
    public OnnxGraph Graph => _graph ??= new OnnxGraph(Proto.Graph, parent: null, this);

    /// <summary>Loads and validates a model file within <see cref="ModelLimits.Default"/>; throws a <see cref="ModelException"/> on bad input.</summary>
    public static OnnxModel Load(string path) => Load(path, limits: null);

    /// <summary>Loads and validates a model file within <paramref name="limits"/> (null: the defaults); throws a <see cref="ModelException"/> on bad input.</summary>
    public static OnnxModel Load(string path, ModelLimits? limits) => ModelReader.Load(path, limits ?? ModelLimits.Default);

    /// <summary>Loads a model from a stream within <see cref="ModelLimits.Default"/>; external data is refused (there is no folder).</summary>
    public static OnnxModel Load(Stream stream, string name) => Load(stream, name, limits: null);

    /// <summary>Loads a model from a stream within <paramref name="limits"/> (null: the defaults); external data is refused (there is no folder).</summary>
    public static OnnxModel Load(Stream stream, string name, ModelLimits? limits) =>
        ModelReader.Load(stream, name, baseDirectory: null, limits ?? ModelLimits.Default);

    /// <summary>Wraps an in-memory model (built by code) after validating it.</summary>
    public static OnnxModel FromProto(ModelProto proto, string name = "<memory>", string? baseDirectory = null, ModelLimits? limits = null)
    {
        var model = new OnnxModel(proto, name, baseDirectory, limits ?? ModelLimits.Default);
        ModelValidator.Validate(model);
        return model;
    }

    /// <summary>Version of <paramref name="domain"/> this model imports, or null. "" and "ai.onnx" are the same domain.</summary>
    public long? OpsetVersion(string domain)
    {
        string wanted = NormalizeDomain(domain);
        foreach (OperatorSetIdProto opset in Proto.OpsetImport)
        {
            if (NormalizeDomain(opset.Domain) == wanted)
            {
                return opset.Version;
            }
        }
        return null;
    }

    /// <summary>Adds an opset import unless the domain is already imported.</summary>
    public void EnsureOpset(string domain, long version)
    {
        if (OpsetVersion(domain) is null)
        {
            Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
    }

    /// <summary>
    /// The default domain as "": null and "ai.onnx" both map to it, every other domain is returned as
    /// is.
    /// </summary>
    public static string NormalizeDomain(string? domain) => domain is null or "ai.onnx" ? "" : domain;

    /// <summary>Serialises the model exactly as the protobuf document now stands.</summary>
    public byte[] ToBytes() => Proto.ToByteArray();

    /// <summary>Writes the model atomically (temporary file, then rename). See <see cref="ModelWriter"/>.</summary>
    public void Save(string path) => ModelWriter.Save(this, path);

    /// <summary>
    /// Makes the document equal to <paramref name="snapshot"/> again (a copy of it) and drops the IR
    /// built over the old one: how a rewrite that must be undone is undone in place, so that callers
    /// holding this model see the restored graph.
    /// </summary>
    internal void RestoreFrom(ModelProto snapshot)
    {
        foreach (Google.Protobuf.Reflection.FieldDescriptor field in ModelProto.Descriptor.Fields.InDeclarationOrder())
        {
            field.Accessor.Clear(Proto);
        }
        Proto.MergeFrom(snapshot.Clone());
        _graph = null;
    }

    internal byte[] ReadExternal(TensorProto tensor)
    {
        var reference = ExternalDataReference.Resolve(tensor, BaseDirectory, FileName, TensorData.ByteSize(tensor, FileName));
        return reference.ReadAll(FileName, Limits.MaxTensorBytes);
    }
}
