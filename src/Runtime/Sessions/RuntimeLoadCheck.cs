using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Runtime.Sessions;

/// <summary>
/// Whether ONNX Runtime, with the project's custom-op library, loads a model: what a host that runs
/// the tool's output needs first. Loaded with the graph optimisations off, so that the answer is
/// about the graph (types, shapes, kernels for every op), the same check the fuzz tests make;
/// `CheckedPasses` (in the rewriter) uses it to drop rewrites the runtime would refuse.
/// </summary>
public static class RuntimeLoadCheck
{
    /// <summary>ONNX Runtime's reason for refusing <paramref name="model"/> (first line), or null when it loads it.</summary>
    public static string? Refusal(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        options.IntraOpNumThreads = 1;
        try
        {
            using InferenceSession session = ModelSessions.Open(model, options);
            return null;
        }
        catch (OnnxRuntimeException e)
        {
            return e.Message.Split('\n', 2)[0].Trim();
        }
    }

    /// <summary>
    /// Throws <see cref="UnsupportedModelException"/> (exit code 3, naming <paramref name="input"/>) when
    /// ONNX Runtime loads <paramref name="input"/> but refuses <paramref name="output"/>, which was built
    /// from it: a host would fail on the output, so it is not written.
    /// </summary>
    public static void RequireLoadsLikeItsInput(OnnxModel output, OnnxModel input, string what)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(input);
        if (Refusal(output) is { } reason && Refusal(input) is null)
        {
            throw new UnsupportedModelException(input.FileName, $"ONNX Runtime refuses the {what} built from it: {reason}");
        }
    }
}
