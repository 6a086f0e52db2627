using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Conformance;

/// <summary>
/// One batch written as the JSON both engines read: `onnxmemopt train --data FILE` (which takes the
/// element types from the graph) and train.mjs (which needs them in the file, as "type").
/// <code>{ "inputs": { "x": { "type": "float32", "shape": [2, 3], "values": [...] } } }</code>
/// </summary>
internal static class FeedFile
{
    public static void Write(string path, TrainingBatch batch)
    {
        var inputs = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, value) in batch.Values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            OrtTensorTypeAndShapeInfo info = value.GetTensorTypeAndShape();
            (string type, object values) = info.ElementDataType switch
            {
                TensorElementType.Float => ("float32", (object)value.GetTensorDataAsSpan<float>().ToArray()),
                TensorElementType.Int64 => ("int64", value.GetTensorDataAsSpan<long>().ToArray()),
                TensorElementType.Int32 => ("int32", value.GetTensorDataAsSpan<int>().ToArray()),
                TensorElementType.Bool => ("bool", value.GetTensorDataAsSpan<bool>().ToArray()),
                var other => throw new NotSupportedException($"feed input '{name}' is {other}"),
            };
            inputs[name] = new { type, shape = info.Shape, values };
        }
        // Round-trip formatting ("R"-style shortest) keeps every float exact for the other reader.
        File.WriteAllText(path, JsonSerializer.Serialize(new { inputs }));
    }
}
