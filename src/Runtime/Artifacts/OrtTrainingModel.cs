using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>What <see cref="OrtTrainingModel.FromGeneratedGraph"/> produced: the graph and the trained parameters' initial values.</summary>
public sealed record OrtTrainingModelParts(ModelProto Model, IReadOnlyList<CheckpointTensor> TrainedParameters);

/// <summary>
/// Turns a training graph in the project's convention (TrainingGraphBuilder: parameters are inputs
/// whose initializers hold their initial values, outputs are the loss and one
/// <c>&lt;param&gt;_grad</c> per parameter) into ONNX Runtime's on-device convention, as its
/// generator's build_gradient_accumulation_graph wrote it: inputs are the user inputs, the trained
/// parameters (values now in the checkpoint), one <c>&lt;param&gt;_grad.accumulation.buffer</c> per
/// parameter and <c>lazy_reset_grad</c> (bool[1]); each gradient feeds
/// InPlaceAccumulatorV2(buffer, gradient, lazy_reset_grad), whose updated flag is the output
/// <c>&lt;param&gt;_grad.accumulation.out</c> (bool[1]); outputs are the loss, then those flags.
/// Frozen weights stay initializers of the graph, as the generator leaves them when no frozen
/// parameter is named.
/// </summary>
public static class OrtTrainingModel
{
    /// <summary>The file name ONNX Runtime's generator and training API use for the training model.</summary>
    public const string FileName = "training_model.onnx";
    /// <summary>The com.microsoft op that adds each gradient into its buffer (or overwrites it when lazy_reset_grad is set).</summary>
    public const string AccumulatorOp = "InPlaceAccumulatorV2";

    /// <summary>Converts a copy of <paramref name="trainingGraph"/> and takes its trained parameters' initializers out for the checkpoint.</summary>
    /// <exception cref="InvalidModelException">No <c>&lt;param&gt;_grad</c> output belongs to a parameter input with an initial value.</exception>
    /// <exception cref="UnsupportedModelException">A trained parameter is not float32.</exception>
    public static OrtTrainingModelParts FromGeneratedGraph(OnnxModel trainingGraph)
    {
        ArgumentNullException.ThrowIfNull(trainingGraph);
        ModelProto model = trainingGraph.Proto.Clone();
        GraphProto graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        // Trained parameters, in output order: the inputs with an initial value and a <param>_grad output.
        var gradients = new List<(string Parameter, ValueInfoProto Gradient)>();
        foreach (ValueInfoProto output in graph.Output.Skip(1))
        {
            string name = output.Name;
            if (name.EndsWith(TrainingModelLayout.DirectGradientSuffix, StringComparison.Ordinal)
                && name[..^TrainingModelLayout.DirectGradientSuffix.Length] is var parameter
                && inputs.Contains(parameter) && initializers.ContainsKey(parameter))
            {
                gradients.Add((parameter, output));
            }
        }
        if (gradients.Count == 0)
        {
            throw new InvalidModelException(trainingGraph.FileName, "no '<param>_grad' output belongs to a parameter input with an initial value; it is not a generated training graph");
        }

        var trained = new List<CheckpointTensor>(gradients.Count);
        foreach (var (parameter, _) in gradients)
        {
            TensorProto tensor = initializers[parameter];
            if (tensor.DataType != (int)TensorProto.Types.DataType.Float)
            {
                throw new UnsupportedModelException(trainingGraph.FileName, $"parameter '{parameter}' is {ElementTypes.Name(tensor.DataType)}; ONNX Runtime's training checkpoints and AdamW here hold float32 parameters");
            }
            trained.Add(new CheckpointTensor(parameter, tensor.Dims.ToArray(), TensorData.ToFloats(tensor, trainingGraph)));
            graph.Initializer.Remove(tensor);
        }

        // Inputs: user inputs first (ONNX Runtime's Module expects them first), then the parameters.
        var parameterSet = gradients.Select(g => g.Parameter).ToHashSet(StringComparer.Ordinal);
        var userInputs = graph.Input.Where(i => !parameterSet.Contains(i.Name) && !initializers.ContainsKey(i.Name)).ToList();
        var parameterInputs = gradients.Select(g => graph.Input.First(i => i.Name == g.Parameter)).ToList();
        var constantInputs = graph.Input.Where(i => !parameterSet.Contains(i.Name) && initializers.ContainsKey(i.Name)).ToList();
        graph.Input.Clear();
        graph.Input.AddRange(userInputs);
        graph.Input.AddRange(parameterInputs);

        ValueInfoProto loss = graph.Output[0];
        var flags = new List<ValueInfoProto>();
        for (int i = 0; i < gradients.Count; i++)
        {
            var (parameter, gradient) = gradients[i];
            string buffer = parameter + TrainingModelLayout.GradientBufferSuffix;
            string flag = parameter + TrainingModelLayout.GradientOutputSuffix;
            ValueInfoProto bufferInput = gradient.Clone();
            bufferInput.Name = buffer;
            graph.Input.Add(bufferInput);
            var accumulator = new NodeProto { OpType = AccumulatorOp, Domain = AdamWSettings.Domain, Name = $"GradientAccumulator{i}" };
            accumulator.Input.AddRange([buffer, gradient.Name, TrainingModelLayout.LazyResetGradInput]);
            accumulator.Output.Add(flag);
            graph.Node.Add(accumulator);
            flags.Add(ArtifactValues.Tensor(flag, (int)TensorProto.Types.DataType.Bool, [1]));
        }
        graph.Input.Add(ArtifactValues.Tensor(TrainingModelLayout.LazyResetGradInput, (int)TensorProto.Types.DataType.Bool, [1]));
        // Initializers listed as inputs (overridable constants) keep their place after everything else.
        graph.Input.AddRange(constantInputs);

        graph.Output.Clear();
        graph.Output.Add(loss);
        graph.Output.AddRange(flags);
        EnsureMicrosoftOpset(model);
        return new OrtTrainingModelParts(model, trained);
    }

    internal static void EnsureMicrosoftOpset(ModelProto model)
    {
        if (!model.OpsetImport.Any(o => o.Domain == AdamWSettings.Domain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = AdamWSettings.Domain, Version = 1 });
        }
    }
}
