using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// Output binding for graphs that output each step's gradient as <c>&lt;param&gt;_grad</c> (the project's
/// TrainingGraphBuilder convention) rather than accumulating it in place (InPlaceAccumulatorV2). A step
/// that starts a new accumulation binds the outputs to the parameters' gradient buffers, so ONNX
/// Runtime writes there and nothing is copied; a step that accumulates binds them to scratch buffers
/// (allocated on first need, outside the arena like the gradients) whose values are then added.
/// Rebinding happens only when the mode changes.
/// </summary>
internal sealed class DirectGradientOutputs : IDisposable
{
    private readonly OrtIoBinding _binding;
    private readonly List<(string Output, TrainableParameter Parameter)> _outputs;
    private readonly Dictionary<string, OrtValue> _scratch = new(StringComparer.Ordinal);
    private bool? _boundToGradients;

    public DirectGradientOutputs(OrtIoBinding binding, TrainingModelLayout layout, ParameterStore parameters)
    {
        _binding = binding;
        _outputs = layout.DirectGradients.Select(g => (g.Value, parameters[g.Key])).ToList();
    }

    public bool IsEmpty => _outputs.Count == 0;

    /// <summary>Binds the outputs for a step that overwrites (<paramref name="overwrite"/>) or adds to the gradients.</summary>
    public void BeforeRun(bool overwrite)
    {
        if (_boundToGradients == overwrite)
        {
            return;
        }
        foreach ((string output, TrainableParameter parameter) in _outputs)
        {
            _binding.BindOutput(output, overwrite ? parameter.Gradient! : Scratch(parameter));
        }
        _boundToGradients = overwrite;
    }

    /// <summary>After an accumulating step: gradient += this step's gradient.</summary>
    public void AfterRun(bool overwrite)
    {
        if (overwrite)
        {
            return;
        }
        foreach ((_, TrainableParameter parameter) in _outputs)
        {
            Span<float> sum = parameter.Gradients;
            ReadOnlySpan<float> step = _scratch[parameter.Name].GetTensorDataAsSpan<float>();
            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] += step[i];
            }
        }
    }

    public void Dispose()
    {
        foreach (OrtValue value in _scratch.Values)
        {
            value.Dispose();
        }
        _scratch.Clear();
    }

    private OrtValue Scratch(TrainableParameter parameter)
    {
        if (!_scratch.TryGetValue(parameter.Name, out OrtValue? value))
        {
            value = ParameterStore.Allocate(parameter.Dims);
            _scratch[parameter.Name] = value;
        }
        return value;
    }
}
