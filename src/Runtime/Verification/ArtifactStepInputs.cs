using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>
/// A model to verify: a plain graph, or an artifact set's training model with its checkpoint and the
/// sizes of symbolic input dimensions its parameters imply (<see cref="TrainingArtifacts.InferredDims"/>).
/// </summary>
public sealed record VerifiedModel(OnnxModel Model, OrtCheckpoint? Checkpoint, IReadOnlyDictionary<string, long> InferredDims)
{
    /// <summary>True for an artifact set's training model: verify then feeds parameters and gradient buffers itself (<see cref="ArtifactStepInputs"/>) and reads gradients from the buffers.</summary>
    public bool IsArtifact => Checkpoint is not null;

    /// <summary>
    /// Loads <paramref name="path"/>: an artifact folder, or a training model that takes
    /// <c>lazy_reset_grad</c> (its checkpoint found beside it), or any other model.
    /// </summary>
    public static VerifiedModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Directory.Exists(path))
        {
            OnnxModel model = OnnxModel.Load(path);
            if (!ArtifactStepInputs.IsAccumulatingTrainingModel(model.Proto))
            {
                return new VerifiedModel(model, null, new Dictionary<string, long>());
            }
        }
        TrainingArtifacts artifacts = TrainingArtifacts.Load(path);
        return new VerifiedModel(OnnxModel.Load(artifacts.TrainingModelPath), artifacts.Checkpoint, artifacts.InferredDims);
    }
}

/// <summary>
/// The inputs of one training step of an on-device training model other than the user's, as verify
/// feeds them: the parameters from the checkpoint, every <c>&lt;param&gt;_grad.accumulation.buffer</c>
/// zero and <c>lazy_reset_grad</c> true, so that after the step each buffer holds exactly that step's
/// gradient. The buffers are fed as tensors over arrays this object owns and InPlaceAccumulatorV2
/// writes into them (the flag output <c>&lt;param&gt;_grad.accumulation.out</c> says only that it did),
/// so the gradients are read back from those arrays, keyed by the flag output's name.
/// </summary>
public sealed class ArtifactStepInputs
{
    private readonly Dictionary<string, float[]> _buffers = new(StringComparer.Ordinal);
    private readonly List<NamedOnnxValue> _feeds = [];

    private ArtifactStepInputs()
    {
    }

    /// <summary>The graph inputs these feeds cover (the rest are the user's).</summary>
    public IReadOnlySet<string> InputNames => _feeds.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>The values to pass with the user inputs: parameters, zero gradient buffers, then <c>lazy_reset_grad</c> = true.</summary>
    public IReadOnlyList<NamedOnnxValue> Feeds => _feeds;

    /// <summary>True for a graph in ONNX Runtime's on-device convention: it takes lazy_reset_grad and gradient buffers.</summary>
    public static bool IsAccumulatingTrainingModel(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var inputs = model.Graph?.Input.Select(i => i.Name).ToList() ?? [];
        return inputs.Contains(TrainingModelLayout.LazyResetGradInput)
            && inputs.Any(i => i.EndsWith(TrainingModelLayout.GradientBufferSuffix, StringComparison.Ordinal));
    }

    /// <summary>Builds the feeds for <paramref name="model"/>'s parameters and buffers from <paramref name="checkpoint"/>; parameter values are copied, so runs never change the checkpoint.</summary>
    /// <param name="model">The training model in ONNX Runtime's on-device convention.</param>
    /// <param name="checkpoint">Holds every parameter the model takes as an input.</param>
    /// <exception cref="InvalidDataException">The model's inputs do not follow the on-device convention.</exception>
    /// <exception cref="ModelLimitException">A dimension is too large to feed.</exception>
    public static ArtifactStepInputs Create(OnnxModel model, OrtCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var parameters = checkpoint.AllParameters.ToDictionary(t => t.Name, StringComparer.Ordinal);
        TrainingModelLayout layout = TrainingModelLayout.FromModel(model.Proto, parameters.Keys.ToHashSet(StringComparer.Ordinal), model.FileName);
        var inputs = new ArtifactStepInputs();
        foreach (string name in layout.Parameters)
        {
            CheckpointTensor tensor = parameters[name];
            inputs._feeds.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(tensor.Data.ToArray(), Dims(tensor.Dims, model, name))));
        }
        foreach (var (parameter, buffer) in layout.GradientBuffers)
        {
            CheckpointTensor tensor = parameters[parameter];
            var zeros = new float[tensor.Data.Length];
            inputs._buffers[parameter + TrainingModelLayout.GradientOutputSuffix] = zeros;
            inputs._feeds.Add(NamedOnnxValue.CreateFromTensor(buffer, new DenseTensor<float>(zeros, Dims(tensor.Dims, model, buffer))));
        }
        if (layout.LazyResetInput is { } reset)
        {
            inputs._feeds.Add(NamedOnnxValue.CreateFromTensor(reset, new DenseTensor<bool>(new[] { true }, [1])));
        }
        return inputs;
    }

    /// <summary>Each buffer's content after the run, widened to double, by flag output name.</summary>
    public IReadOnlyDictionary<string, double[]> AccumulatedGradients() =>
        _buffers.ToDictionary(b => b.Key, b => b.Value.Select(v => (double)v).ToArray(), StringComparer.Ordinal);

    private static int[] Dims(long[] dims, OnnxModel model, string name) =>
        dims.Select(d => d <= int.MaxValue ? (int)d : throw new ModelLimitException(model.FileName, $"input '{name}' has a dimension of {d}, more than verify feeds")).ToArray();
}
