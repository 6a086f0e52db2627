using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>Runs a fixture on stock ONNX Runtime (no custom ops, no graph optimisation) and returns every output.</summary>
public static class OrtForward
{
    public sealed record Output(float[] Values, long[] Shape);

    public static Dictionary<string, Output> Run(ModelProto model, IReadOnlyDictionary<string, OrtValue> inputs)
    {
        using var session = OrtRunner.CreateSession(model.ToByteArray(), registerLibrary: false);
        string[] outputNames = [.. session.OutputMetadata.Keys];
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [.. inputs.Keys], [.. inputs.Values], outputNames);
        var outputs = new Dictionary<string, Output>(StringComparer.Ordinal);
        for (int i = 0; i < outputNames.Length; i++)
        {
            var value = results[i];
            outputs[outputNames[i]] = new Output(value.GetTensorDataAsSpan<float>().ToArray(), value.GetTensorTypeAndShape().Shape);
        }
        return outputs;
    }

    /// <summary>max |actual − reference| / max |reference|: the error relative to the output's scale.</summary>
    public static double RelativeError(float[] actual, double[] reference)
    {
        Assert.Equal(reference.Length, actual.Length);
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            Assert.True(float.IsFinite(actual[i]), $"output element {i} is {actual[i]}");
            worst = Math.Max(worst, Math.Abs(actual[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs(reference[i]));
        }
        Assert.True(scale > 0, "reference output is all zeros: the comparison would prove nothing");
        return worst / scale;
    }
}
