using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// The calling convention of an ONNX Runtime on-device training (or eval) model. Inputs: the user
/// inputs, then the parameters, then one <c>&lt;param&gt;_grad.accumulation.buffer</c> per trained
/// parameter, then <c>lazy_reset_grad</c> (bool[1]). Outputs: the loss, any further user outputs, then
/// one <c>&lt;param&gt;_grad.accumulation.out</c> flag per gradient buffer. Inputs are classified by
/// name (parameters are the names the checkpoint holds), so the order is checked, not relied on.
/// The project's own training graphs (TrainingGraphBuilder) follow a second convention that this
/// layout also reads: no buffers and no lazy_reset_grad, and one <c>&lt;param&gt;_grad</c> output per
/// trained parameter holding that step's gradient (<see cref="DirectGradients"/>).
/// </summary>
public sealed class TrainingModelLayout
{
    /// <summary>Suffix of a gradient accumulation buffer input: <c>&lt;param&gt;_grad.accumulation.buffer</c>.</summary>
    public const string GradientBufferSuffix = "_grad.accumulation.buffer";
    /// <summary>Suffix of the flag output the accumulator writes for each buffer: <c>&lt;param&gt;_grad.accumulation.out</c>.</summary>
    public const string GradientOutputSuffix = "_grad.accumulation.out";
    /// <summary>The bool[1] input that makes the accumulators overwrite their buffers instead of adding (the first micro-step of an optimizer step).</summary>
    public const string LazyResetGradInput = "lazy_reset_grad";
    /// <summary>Suffix of a gradient output in the project's convention: <c>&lt;param&gt;_grad</c>, that step's gradient.</summary>
    public const string DirectGradientSuffix = "_grad";

    private TrainingModelLayout(
        IReadOnlyList<TensorSpec> userInputs,
        IReadOnlyList<string> parameters,
        IReadOnlyDictionary<string, string> gradientBuffers,
        string? lazyResetInput,
        string lossOutput,
        IReadOnlyList<string> otherOutputs,
        IReadOnlyList<string> gradientOutputs,
        IReadOnlyDictionary<string, string> directGradients)
    {
        DirectGradients = directGradients;
        UserInputs = userInputs;
        Parameters = parameters;
        GradientBuffers = gradientBuffers;
        LazyResetInput = lazyResetInput;
        LossOutput = lossOutput;
        OtherOutputs = otherOutputs;
        GradientOutputs = gradientOutputs;
    }

    /// <summary>Inputs the caller supplies each step (data, labels), in graph order.</summary>
    public IReadOnlyList<TensorSpec> UserInputs { get; }

    /// <summary>Parameter inputs in graph order.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>Gradient accumulation buffer input name, by parameter (empty for an eval model).</summary>
    public IReadOnlyDictionary<string, string> GradientBuffers { get; }

    /// <summary>The <see cref="LazyResetGradInput"/> input when the graph has one (always, with gradient buffers); null for eval models and the project's own graphs.</summary>
    public string? LazyResetInput { get; }

    /// <summary>The first graph output.</summary>
    public string LossOutput { get; }

    /// <summary>Outputs other than the loss and the accumulation flags (e.g. predictions).</summary>
    public IReadOnlyList<string> OtherOutputs { get; }

    /// <summary>The <c>_grad.accumulation.out</c> flag outputs.</summary>
    public IReadOnlyList<string> GradientOutputs { get; }

    /// <summary>Gradient output name (<c>&lt;param&gt;_grad</c>), by parameter, for graphs that output gradients instead of accumulating them.</summary>
    public IReadOnlyDictionary<string, string> DirectGradients { get; }

    /// <summary>True when the graph produces gradients: into accumulation buffers, or as direct outputs.</summary>
    public bool IsTrainingModel => GradientBuffers.Count > 0 || DirectGradients.Count > 0;

    /// <summary>True when the parameter gets a gradient from this graph (either convention).</summary>
    public bool HasGradient(string parameter) => GradientBuffers.ContainsKey(parameter) || DirectGradients.ContainsKey(parameter);

    /// <summary>Classifies the inputs and outputs of <paramref name="model"/>; <paramref name="parameterNames"/> are the checkpoint's.</summary>
    public static TrainingModelLayout FromModel(ModelProto model, IReadOnlySet<string> parameterNames, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(parameterNames);
        GraphProto graph = model.Graph ?? throw new InvalidDataException($"{source}: the model has no graph.");
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var userInputs = new List<TensorSpec>();
        var parameters = new List<string>();
        var buffers = new Dictionary<string, string>(StringComparer.Ordinal);
        string? lazyReset = null;

        // Phase order enforces the convention: user inputs < parameters < buffers < lazy_reset_grad.
        int phase = 0;
        foreach (ValueInfoProto input in graph.Input.Where(i => !initializers.Contains(i.Name)))
        {
            string name = input.Name;
            int inputPhase;
            if (name == LazyResetGradInput)
            {
                lazyReset = name;
                inputPhase = 3;
            }
            else if (name.EndsWith(GradientBufferSuffix, StringComparison.Ordinal))
            {
                string parameter = name[..^GradientBufferSuffix.Length];
                if (!parameterNames.Contains(parameter))
                {
                    throw new InvalidDataException($"{source}: gradient buffer '{name}' belongs to '{parameter}', which the checkpoint does not hold.");
                }
                buffers[parameter] = name;
                inputPhase = 2;
            }
            else if (parameterNames.Contains(name))
            {
                parameters.Add(name);
                inputPhase = 1;
            }
            else
            {
                userInputs.Add(TensorSpec.FromValueInfo(input));
                inputPhase = 0;
            }
            if (inputPhase < phase)
            {
                throw new InvalidDataException($"{source}: input '{name}' is out of order; expected user inputs, parameters, gradient buffers, lazy_reset_grad.");
            }
            phase = inputPhase;
        }

        foreach (string parameter in buffers.Keys)
        {
            if (!parameters.Contains(parameter))
            {
                throw new InvalidDataException($"{source}: gradient buffer for '{parameter}' but the parameter is not a graph input.");
            }
        }
        if (buffers.Count > 0 && lazyReset is null)
        {
            throw new InvalidDataException($"{source}: a training model with gradient buffers needs a '{LazyResetGradInput}' input.");
        }
        if (graph.Output.Count == 0)
        {
            throw new InvalidDataException($"{source}: the model has no outputs (the first must be the loss).");
        }

        string loss = graph.Output[0].Name;
        var gradientOutputs = new List<string>();
        var otherOutputs = new List<string>();
        var directGradients = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ValueInfoProto output in graph.Output.Skip(1))
        {
            string name = output.Name;
            if (name.EndsWith(GradientOutputSuffix, StringComparison.Ordinal))
            {
                gradientOutputs.Add(name);
            }
            else if (buffers.Count == 0 && name.EndsWith(DirectGradientSuffix, StringComparison.Ordinal)
                && name[..^DirectGradientSuffix.Length] is var parameter && parameters.Contains(parameter))
            {
                directGradients[parameter] = name;
            }
            else
            {
                otherOutputs.Add(name);
            }
        }
        return new TrainingModelLayout(userInputs, parameters, buffers, lazyReset, loss, otherOutputs, gradientOutputs, directGradients);
    }

    /// <summary>Parses the model file at <paramref name="path"/>; tensors in external data stay references (nothing beside it is read).</summary>
    /// <exception cref="Google.Protobuf.InvalidProtocolBufferException">The file is not an ONNX model.</exception>
    public static ModelProto ReadModel(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }
}
