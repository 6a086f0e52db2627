using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Sessions;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>Creates the trainer's ONNX Runtime sessions.</summary>
internal static class SessionFactory
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>
    /// Opens <paramref name="modelPath"/>. WHY the opset patch: the custom-op library registers a
    /// custom domain named com.microsoft (for the training kernels). ONNX Runtime's graph fusions
    /// (e.g. Gemm + Relu → FusedGemm) insert com.microsoft nodes, and in a model that does not import
    /// com.microsoft those nodes then resolve to opset version -1 against the custom domain and the
    /// session fails ("com.microsoft:FusedGemm(-1) is not a registered function/op"). Adding the
    /// import (version 1, the only one) in memory fixes that without touching the file; models that
    /// already import it are opened from their path unchanged.
    /// </summary>
    public static InferenceSession Open(string modelPath, TrainerOptions options) => Open(modelPath, options, out _);

    /// <param name="modelPath">The model file.</param>
    /// <param name="options">Session settings.</param>
    /// <param name="cuda">True when the CUDA execution provider was appended (see <see cref="TrainerOptions.UseCudaWhenPresent"/>).</param>
    public static InferenceSession Open(string modelPath, TrainerOptions options, out bool cuda)
    {
        ArgumentNullException.ThrowIfNull(options);
        using SessionOptions sessionOptions = options.CreateSessionOptions(out cuda);
        if (!options.RegisterCustomOps)
        {
            return new InferenceSession(modelPath, sessionOptions);
        }
        ModelProto model = TrainingModelLayout.ReadModel(modelPath);
        if (model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            return new InferenceSession(modelPath, sessionOptions);
        }
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        // Opened from bytes, the runtime knows no folder: external data (every large export has
        // it) is then read from the model file's folder, as it would be had the file been opened.
        ModelSessions.PointAtExternalData(sessionOptions, Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
        return new InferenceSession(model.ToByteArray(), sessionOptions);
    }
}
