using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;

namespace OnnxMemOpt.Tests.Support;

/// <summary>Runs a model on stock ONNX Runtime with the project's custom-op library registered.</summary>
public static class OrtRunner
{
    public static InferenceSession CreateSession(byte[] model, bool registerLibrary = true, int intraOpThreads = 1)
    {
        using var options = registerLibrary ? CustomOpLibrary.CreateSessionOptions() : new SessionOptions();
        options.IntraOpNumThreads = intraOpThreads;
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        return new InferenceSession(model, options);
    }

    /// <summary>Runs once and returns every output, by name, as a disposable collection.</summary>
    public static IDisposableReadOnlyCollection<DisposableNamedOnnxValue> Run(InferenceSession session, params NamedOnnxValue[] inputs) =>
        session.Run(inputs);
}
