using System.Globalization;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>The on-device artifact sets in ../shared and the inputs ONNX Runtime's own C# TrainingTest uses.</summary>
internal static class ArtifactData
{
    public const string MlpModel = "ort-training/mlp-artifacts/training_model.onnx";
    public const string LoraModel = "ort-training/lora-mlp/training_model.onnx";

    /// <summary>The symbolic feature dimension of the MLP's input (fc1.weight is [500, 784]).</summary>
    public static readonly IReadOnlyDictionary<string, long> MlpDims = new Dictionary<string, long> { ["input-0_dim1"] = 784 };

    /// <summary>Single-threaded sessions: deterministic and gentle on the shared cores.</summary>
    public static TrainerOptions Options(float? learningRate = null) => new() { IntraOpThreads = 1, LearningRate = learningRate };

    public static TrainingArtifacts Mlp() => TrainingArtifacts.Load(SharedTestData.RequireFile(MlpModel));

    public static TrainingArtifacts Lora() => TrainingArtifacts.Load(SharedTestData.RequireFile(LoraModel));

    /// <summary>ORT's test batch: input-0.in ([2, 784] floats as "name\n[v, v, ...]") with labels {1, 1}.</summary>
    public static TrainingBatch MlpReferenceBatch()
    {
        float[] input = ReadTensorText(SharedTestData.RequireFile("ort-training/mlp-artifacts/input-0.in"));
        return new TrainingBatch()
            .Add("input-0", input, 2, 784)
            .Add("labels", new[] { 1, 1 }, 2);
    }

    public static float ReadLoss(string name) => ReadTensorText(SharedTestData.RequireFile($"ort-training/mlp-artifacts/{name}")).Single();

    /// <summary>ONNX Runtime's test-data text format: a name line, then the values (bracketed, comma-separated, or one).</summary>
    public static float[] ReadTensorText(string path)
    {
        string[] lines = File.ReadAllLines(path);
        string values = string.Join("", lines.Skip(1)).Trim().TrimStart('[').TrimEnd(']');
        return values.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => float.Parse(v, CultureInfo.InvariantCulture))
            .ToArray();
    }

    public static TrainingBatch Synthetic(TrainingArtifacts artifacts, long batchSize, int seed, IReadOnlyDictionary<string, long>? dims = null) =>
        SyntheticBatch.Create(artifacts.Layout.UserInputs, new SyntheticBatchOptions
        {
            BatchSize = batchSize,
            Seed = seed,
            Dims = dims ?? new Dictionary<string, long>(),
        });
}
