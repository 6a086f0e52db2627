using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// The graph ONNX Runtime makes of a model and saves (all optimisations on, as in training, the
/// project's library registered): what its optimisers kept, fused or merged, with the nodes listed
/// in its execution order.
/// </summary>
internal static class OrtOptimizedModel
{
    public static ModelProto Of(byte[] model)
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxmemopt-ort-optimized-{Guid.NewGuid():N}.onnx");
        try
        {
            using (SessionOptions options = CustomOpLibrary.CreateSessionOptions())
            {
                options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
                options.OptimizedModelFilePath = path;
                using var session = new InferenceSession(model, options);
            }
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
