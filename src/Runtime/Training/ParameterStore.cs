using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Runtime.Checkpoints;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// One parameter's tensors. Each is an OrtValue in native memory from ONNX Runtime's default CPU
/// allocator, bound to the sessions once: the graph reads the weights and accumulates into the
/// gradient in place, and AdamW updates weights and moments in place, so no step copies a weight.
/// They live outside the session arena, which therefore measures what the graph itself allocates.
/// </summary>
public sealed class TrainableParameter : IDisposable
{
    internal TrainableParameter(string name, long[] dims, OrtValue value, OrtValue? gradient, OrtValue? firstMoment, OrtValue? secondMoment)
    {
        Name = name;
        Dims = dims;
        Value = value;
        Gradient = gradient;
        FirstMoment = firstMoment;
        SecondMoment = secondMoment;
    }

    /// <summary>The parameter's graph input name, as in the checkpoint.</summary>
    public string Name { get; }

    /// <summary>The parameter's shape, shared by its gradient and moments.</summary>
    public long[] Dims { get; }

    /// <summary>Elements in each of the parameter's tensors.</summary>
    public long ElementCount => CheckpointTensor.ElementCount(Dims);

    /// <summary>True when the optimizer updates this parameter (it has a gradient and moments).</summary>
    public bool IsTrained => Gradient is not null && FirstMoment is not null;

    internal OrtValue Value { get; }

    internal OrtValue? Gradient { get; }

    internal OrtValue? FirstMoment { get; }

    internal OrtValue? SecondMoment { get; }

    /// <summary>The weights in native memory, as the sessions read them; writes take effect at the next step without rebinding.</summary>
    public Span<float> Values => Value.GetTensorMutableDataAsSpan<float>();

    /// <summary>The accumulated gradient (empty for a frozen parameter).</summary>
    public Span<float> Gradients => Gradient is null ? [] : Gradient.GetTensorMutableDataAsSpan<float>();

    /// <summary>AdamW's first moment m (empty for a parameter that is not trained).</summary>
    public Span<float> FirstMoments => FirstMoment is null ? [] : FirstMoment.GetTensorMutableDataAsSpan<float>();

    /// <summary>AdamW's second moment v (empty for a parameter that is not trained).</summary>
    public Span<float> SecondMoments => SecondMoment is null ? [] : SecondMoment.GetTensorMutableDataAsSpan<float>();

    /// <summary>Frees the native tensors; the sessions they were bound to must not run afterwards.</summary>
    public void Dispose()
    {
        Value.Dispose();
        Gradient?.Dispose();
        FirstMoment?.Dispose();
        SecondMoment?.Dispose();
    }
}

/// <summary>All parameters of a training graph, created from a checkpoint.</summary>
public sealed class ParameterStore : IDisposable
{
    private readonly Dictionary<string, TrainableParameter> _byName;

    private ParameterStore(List<TrainableParameter> parameters)
    {
        All = parameters;
        _byName = parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>Parameters in training-graph input order.</summary>
    public IReadOnlyList<TrainableParameter> All { get; }

    /// <summary>The parameters the optimizer updates, in <see cref="All"/>'s order.</summary>
    public IEnumerable<TrainableParameter> Trained => All.Where(p => p.IsTrained);

    /// <summary>Bytes held for weights, gradients and moments (outside the session arena).</summary>
    public long Bytes => All.Sum(p => p.ElementCount * sizeof(float) *
        (1 + (p.Gradient is null ? 0 : 1) + (p.FirstMoment is null ? 0 : 2)));

    /// <summary>The parameter named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The graph has no such parameter.</exception>
    public TrainableParameter this[string name] =>
        _byName.TryGetValue(name, out TrainableParameter? parameter) ? parameter : throw new KeyNotFoundException($"No parameter '{name}'.");

    /// <summary>True when <paramref name="name"/> is one of the graph's parameters.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>
    /// Allocates every parameter of <paramref name="layout"/>: values from the checkpoint, zeroed
    /// gradient buffers where the graph has one, and moments (from the checkpoint's optimizer group
    /// when present, else zero) for the parameters the checkpoint marks trainable.
    /// </summary>
    public static ParameterStore Create(OrtCheckpoint checkpoint, TrainingModelLayout layout)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(layout);
        var tensors = checkpoint.AllParameters.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var trainable = checkpoint.TrainableParameters.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var moments = checkpoint.OptimizerGroups.FirstOrDefault()?.Parameters.ToDictionary(p => p.ParameterName, StringComparer.Ordinal)
            ?? new Dictionary<string, ParameterMoments>();

        var parameters = new List<TrainableParameter>();
        try
        {
            foreach (string name in layout.Parameters)
            {
                CheckpointTensor tensor = tensors[name];
                OrtValue value = Allocate(tensor.Dims);
                tensor.Data.CopyTo(value.GetTensorMutableDataAsSpan<float>());
                OrtValue? gradient = layout.HasGradient(name) ? AllocateZeroed(tensor.Dims) : null;
                OrtValue? first = null;
                OrtValue? second = null;
                if (gradient is not null && trainable.Contains(name))
                {
                    moments.TryGetValue(name, out ParameterMoments? saved);
                    first = AllocateMoment(tensor, saved, "momentum0");
                    second = AllocateMoment(tensor, saved, "momentum1");
                }
                parameters.Add(new TrainableParameter(name, tensor.Dims, value, gradient, first, second));
            }
        }
        catch
        {
            parameters.ForEach(p => p.Dispose());
            throw;
        }
        return new ParameterStore(parameters);
    }

    /// <summary>Frees every parameter's native tensors; the trainer owns the store and disposes it with its sessions.</summary>
    public void Dispose()
    {
        foreach (TrainableParameter parameter in All)
        {
            parameter.Dispose();
        }
    }

    internal static OrtValue Allocate(long[] dims) =>
        OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, dims);

    private static OrtValue AllocateZeroed(long[] dims)
    {
        OrtValue value = Allocate(dims);
        value.GetTensorMutableDataAsSpan<float>().Clear();
        return value;
    }

    private static OrtValue AllocateMoment(CheckpointTensor parameter, ParameterMoments? saved, string momentName)
    {
        OrtValue value = AllocateZeroed(parameter.Dims);
        CheckpointTensor? moment = saved?.Moments.FirstOrDefault(m => m.Name == momentName);
        if (moment is not null)
        {
            if (!moment.Dims.SequenceEqual(parameter.Dims))
            {
                value.Dispose();
                throw new InvalidDataException($"Checkpoint moment '{momentName}' of '{parameter.Name}' has shape [{string.Join(",", moment.Dims)}], the parameter [{string.Join(",", parameter.Dims)}].");
            }
            moment.Data.CopyTo(value.GetTensorMutableDataAsSpan<float>());
        }
        return value;
    }
}
