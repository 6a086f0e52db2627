namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// The content of an ONNX Runtime on-device training checkpoint (FlatBuffer, identifier "ODTC",
/// schema onnxruntime/core/flatbuffers/schema/ort_training_checkpoint.fbs): the module state
/// (trainable and frozen parameters), the optimizer groups and the property bag.
/// </summary>
public sealed class OrtCheckpoint
{
    public required int Version { get; init; }

    public required IReadOnlyList<CheckpointTensor> TrainableParameters { get; init; }

    public required IReadOnlyList<CheckpointTensor> FrozenParameters { get; init; }

    public required IReadOnlyList<OptimizerGroupState> OptimizerGroups { get; init; }

    public required CheckpointProperties Properties { get; init; }

    public IEnumerable<CheckpointTensor> AllParameters => TrainableParameters.Concat(FrozenParameters);
}

/// <summary>One optimizer group: its step count, initial learning rate and per-parameter moments.</summary>
public sealed record OptimizerGroupState(string Name, long Step, float InitialLearningRate, IReadOnlyList<ParameterMoments> Parameters);

/// <summary>The optimizer state of one parameter (for AdamW: "momentum0" and "momentum1").</summary>
public sealed record ParameterMoments(string ParameterName, IReadOnlyList<CheckpointTensor> Moments);

/// <summary>The checkpoint's user properties, by kind.</summary>
public sealed record CheckpointProperties(
    IReadOnlyDictionary<string, long> Ints,
    IReadOnlyDictionary<string, float> Floats,
    IReadOnlyDictionary<string, string> Strings)
{
    public static CheckpointProperties Empty { get; } = new(
        new Dictionary<string, long>(), new Dictionary<string, float>(), new Dictionary<string, string>());
}
