namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// The content of an ONNX Runtime on-device training checkpoint (FlatBuffer, identifier "ODTC",
/// schema onnxruntime/core/flatbuffers/schema/ort_training_checkpoint.fbs): the module state
/// (trainable and frozen parameters), the optimizer groups and the property bag.
/// </summary>
public sealed class OrtCheckpoint
{
    /// <summary>The checkpoint format version in the file (ONNX Runtime 1.19 writes <see cref="OrtCheckpointWriter.CurrentVersion"/>); written back as given.</summary>
    public required int Version { get; init; }

    /// <summary>Parameters with requires_grad: the optimizer updates them and the training model outputs a gradient for each.</summary>
    public required IReadOnlyList<CheckpointTensor> TrainableParameters { get; init; }

    /// <summary>Parameters fed to the models as inputs but never updated.</summary>
    public required IReadOnlyList<CheckpointTensor> FrozenParameters { get; init; }

    /// <summary>Saved optimizer state; empty when the checkpoint holds parameters only (a fresh set from the generator).</summary>
    public required IReadOnlyList<OptimizerGroupState> OptimizerGroups { get; init; }

    /// <summary>The user property bag, kept so that rewriting a checkpoint does not lose it.</summary>
    public required CheckpointProperties Properties { get; init; }

    /// <summary>Trainable, then frozen parameters: every value the models take from the checkpoint.</summary>
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
    /// <summary>No properties of any kind, as the generator's checkpoints have.</summary>
    public static CheckpointProperties Empty { get; } = new(
        new Dictionary<string, long>(), new Dictionary<string, float>(), new Dictionary<string, string>());
}
