using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Sessions;

/// <summary>
/// Opens ONNX Runtime sessions on models held in memory (a model just loaded, rewritten, or
/// converted), so that their external data resolves as it would for the file they came from.
/// A session made from bytes has no folder, and ONNX Runtime then cannot find any external data
/// file; every real LLM export past 2 GiB has them. Three ways to give it the data were weighed:
/// <list type="bullet">
/// <item>ONNX Runtime's session config <see cref="ExternalDataFolderKey"/> (onnxruntime_session_options_config_keys.h,
/// 1.31): external files are read from that folder, also for a model loaded from bytes. The runtime
/// reads (or memory-maps) the input's own data files, exactly as for a model opened by path, with
/// nothing copied. Chosen whenever the document itself fits in one protobuf.</item>
/// <item>A temporary copy on disk: its data must go with it (a location may not leave the model's
/// folder), which copies every weight per session. Used only where the in-memory document is itself
/// over 2 GiB (the passes added large inline tensors), since those bytes cannot be handed over as
/// one protobuf at all; <see cref="ModelWriter"/> then moves them to a data file beside the copy.</item>
/// <item>Initializers handed over as OrtValues (AddInitializer): the runtime does not copy them, so
/// every weight would be read into pinned managed memory kept alive with the session, doubling what
/// a large model holds resident. Not used.</item>
/// </list>
/// </summary>
public static class ModelSessions
{
    /// <summary>ONNX Runtime's session config key naming the folder external initializers are read from.</summary>
    public const string ExternalDataFolderKey = "session.model_external_initializers_file_folder_path";

    /// <summary>
    /// A session on <paramref name="model"/> with <paramref name="options"/> (which gain the external
    /// data folder entry when the model has external data). Throws <see cref="ExternalDataException"/>
    /// for a model with external data but no folder (built in memory, or read from a stream).
    /// </summary>
    public static InferenceSession Open(OnnxModel model, SessionOptions options) => Open(model, options, ModelWriter.MaxProtobufBytes);

    /// <param name="model">The model.</param>
    /// <param name="options">Session options.</param>
    /// <param name="maxInlineBytes">Largest document handed over as bytes (protobuf's limit; tests lower it to reach the other route cheaply).</param>
    internal static InferenceSession Open(OnnxModel model, SessionOptions options, long maxInlineBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        model = WithMicrosoftDomain(model);
        if (ModelWriter.SerializedSize(model.Proto) >= maxInlineBytes)
        {
            return OpenThroughTemporaryCopy(model, options, maxInlineBytes);
        }
        if (ModelTensors.HasExternalData(model.Proto))
        {
            string folder = model.BaseDirectory
                ?? throw new ExternalDataException(model.FileName, "has external data but no folder to read it from (it was not loaded from a file)");
            PointAtExternalData(options, folder);
        }
        return new InferenceSession(model.ToBytes(), options);
    }

    /// <summary>
    /// The model importing com.microsoft (version 1, the only one), for the reason
    /// <see cref="Training.SessionFactory"/> gives: the custom-op library registers a domain of that
    /// name, and ONNX Runtime's fusions then insert com.microsoft nodes that fail to resolve in a model
    /// that does not import it. The caller's model is not changed (the copy shares its tensor bytes).
    /// </summary>
    private static OnnxModel WithMicrosoftDomain(OnnxModel model)
    {
        if (model.OpsetVersion(MicrosoftDomain) is not null)
        {
            return model;
        }
        ModelProto proto = model.Proto.Clone();
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return OnnxModel.FromProto(proto, model.FileName, model.BaseDirectory, model.Limits);
    }

    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>Makes sessions from bytes read external data from <paramref name="folder"/> (the model file's folder).</summary>
    public static void PointAtExternalData(SessionOptions options, string folder)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AddSessionConfigEntry(ExternalDataFolderKey, Path.GetFullPath(folder));
    }

    private static InferenceSession OpenThroughTemporaryCopy(OnnxModel model, SessionOptions options, long maxInlineBytes)
    {
        string folder = Path.Combine(Path.GetTempPath(), "onnxmemopt-session-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "model.onnx");
            ModelWriter.Save(model, path, externalizeThreshold: maxInlineBytes);
            // Opened by path, the runtime finds the copy's data file beside it.
            return new InferenceSession(path, options);
        }
        finally
        {
            // The session holds what it read (or a mapping, which outlives the name on Linux).
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A platform that keeps mapped files locked: the copy stays in the temp folder.
            }
        }
    }
}
