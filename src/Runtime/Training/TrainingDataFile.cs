using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// A batch given as JSON (`train --data FILE`, `verify --data FILE`): each graph input by name, with its shape and
/// values; element types follow the graph's input declarations.
/// <code>{ "inputs": { "input-0": { "shape": [2, 784], "values": [0.1, ...] }, "labels": { "shape": [2], "values": [1, 1] } } }</code>
/// </summary>
public static class TrainingDataFile
{
    /// <summary>The inputs of <paramref name="inputs"/> that the file holds (verify --data: the others stay random).</summary>
    public static TrainingBatch ReadPresent(string path, IReadOnlyList<TensorSpec> inputs) => Read(path, inputs, requireAll: false);

    /// <summary>Every input of <paramref name="inputs"/>, each of which the file must hold; a bad file throws <see cref="InvalidModelException"/> naming it.</summary>
    public static TrainingBatch Read(string path, IReadOnlyList<TensorSpec> inputs) => Read(path, inputs, requireAll: true);

    private static TrainingBatch Read(string path, IReadOnlyList<TensorSpec> inputs, bool requireAll)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelException(path, $"is not a readable JSON data file ({e.Message})");
        }
        using (document)
        {
            if (!document.RootElement.TryGetProperty("inputs", out JsonElement values) || values.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidModelException(path, "has no \"inputs\" object");
            }
            var batch = new TrainingBatch();
            try
            {
                foreach (TensorSpec input in inputs)
                {
                    if (!values.TryGetProperty(input.Name, out JsonElement entry))
                    {
                        if (!requireAll) continue;
                        throw new InvalidModelException(path, $"has no data for graph input '{input.Name}'");
                    }
                    AddInput(batch, path, input, entry);
                }
                return batch;
            }
            catch
            {
                batch.Dispose();
                throw;
            }
        }
    }

    private static void AddInput(TrainingBatch batch, string path, TensorSpec input, JsonElement entry)
    {
        try
        {
            long[] shape = entry.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            JsonElement data = entry.GetProperty("values");
            switch (input.ElementType)
            {
                case TensorElementType.Float:
                    batch.Add(input.Name, data.EnumerateArray().Select(v => v.GetSingle()).ToArray(), shape);
                    break;
                case TensorElementType.Int64:
                    batch.Add(input.Name, data.EnumerateArray().Select(v => v.GetInt64()).ToArray(), shape);
                    break;
                case TensorElementType.Int32:
                    batch.Add(input.Name, data.EnumerateArray().Select(v => v.GetInt32()).ToArray(), shape);
                    break;
                default:
                    throw new InvalidModelException(path, $"input '{input.Name}' has element type {input.ElementType}, which data files do not support");
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidModelException(path, $"input '{input.Name}': {e.Message}");
        }
    }
}
