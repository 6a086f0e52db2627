using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>
/// Has ONNX Runtime write the graph it would run for a model (session.optimized_model_filepath):
/// the graph after its optimisations at the session's level, nodes in its execution order. Weights go
/// to a side file so the written model stays small. The session is opened with the trainer's own
/// options (optimisation level, session config, custom ops), so it is the graph a trainer runs.
/// </summary>
public static class RuntimeOptimizedGraph
{
    private const string OptimizedPathKey = "session.optimized_model_filepath";
    private const string ExternalWeightsKey = "session.optimized_model_external_initializers_file_name";
    private const string ExternalWeightsMinBytesKey = "session.optimized_model_external_initializers_min_size_in_bytes";

    /// <summary>Writes the runtime's optimised graph of <paramref name="modelPath"/> to <paramref name="outputPath"/>.</summary>
    public static string Write(string modelPath, TrainerOptions options, string outputPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = new Dictionary<string, string>(options.SessionConfig, StringComparer.Ordinal)
        {
            [OptimizedPathKey] = outputPath,
            [ExternalWeightsKey] = Path.GetFileName(outputPath) + ".weights",
            [ExternalWeightsMinBytesKey] = "1024",
        };
        using InferenceSession session = SessionFactory.Open(modelPath, options with { SessionConfig = config });
        return outputPath;
    }
}
