using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// Turns a training graph in the project's own convention (TrainingGraphBuilder, or one rewritten
/// from it: parameters are graph inputs whose initializers hold the initial values, outputs are the
/// loss and then one <c>&lt;param&gt;_grad</c> per parameter) into artifacts that <see cref="Trainer"/> runs.
/// The trained parameters' initial values move out of the graph into an in-memory checkpoint (so
/// ONNX Runtime does not hold a second copy), training_model.onnx is written to a folder, and
/// optionally an eval_model.onnx (<see cref="Artifacts.EvalModel"/>): the forward part only, outputting
/// the loss and, for cross-entropy, the log-probabilities that accuracy is read from.
/// </summary>
public static class GeneratedGraphArtifacts
{
    /// <summary>The training model's file name in the written folder, as <see cref="TrainingArtifacts.Load"/> looks for it.</summary>
    public const string TrainingFile = "training_model.onnx";
    /// <summary>The eval model's file name in the written folder, as <see cref="TrainingArtifacts.Load"/> looks for it.</summary>
    public const string EvalFile = "eval_model.onnx";

    /// <summary>ONNX Runtime's cross-entropy op: output 1 holds the log-probabilities [N, C].</summary>
    private const string CrossEntropyOp = "SoftmaxCrossEntropyLossInternal";

    /// <summary>
    /// Writes the artifacts of <paramref name="trainingGraph"/> into <paramref name="folder"/> (created when
    /// missing) and loads them. The graph itself is not modified.
    /// </summary>
    /// <remarks>
    /// Frozen weights in external data (a large export) stay external: the written models get a
    /// data file of their own beside them (<see cref="ModelWriter"/>), so the folder is complete
    /// and loads wherever it is, and the trained parameters' values are read from the input's files.
    /// </remarks>
    public static TrainingArtifacts Write(OnnxModel trainingGraph, string folder, bool withEvalModel = false, AdamWSettings? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(trainingGraph);
        ArgumentNullException.ThrowIfNull(folder);
        ModelProto model = trainingGraph.Proto.Clone();
        GraphProto graph = model.Graph ?? throw new InvalidDataException("The training graph has no graph.");
        List<CheckpointTensor> trained = MoveTrainedParametersOut(graph, trainingGraph);
        if (trained.Count == 0)
        {
            throw new InvalidDataException("The training graph has no '<param>_grad' output for a parameter input with an initial value; it is not a generated training graph.");
        }

        Directory.CreateDirectory(folder);
        string trainingPath = Path.Combine(folder, TrainingFile);
        Save(model, trainingGraph, trainingPath);
        string? evalPath = null;
        if (withEvalModel)
        {
            evalPath = Path.Combine(folder, EvalFile);
            var trainedNames = trained.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            Save(Artifacts.EvalModel.FromTrainingGraph(trainingGraph.Proto, trainedNames, LogProbabilities(trainingGraph.Proto.Graph)), trainingGraph, evalPath);
        }
        var checkpoint = new OrtCheckpoint
        {
            Version = 1,
            TrainableParameters = trained,
            FrozenParameters = [],
            OptimizerGroups = [],
            Properties = CheckpointProperties.Empty,
        };
        return TrainingArtifacts.Create(trainingPath, checkpoint, $"{trainingPath} (initial values)", optimizer ?? new AdamWSettings(), evalModelPath: evalPath);
    }

    /// <summary>The parameters with a <c>_grad</c> output: their initializers leave the graph and become checkpoint tensors.</summary>
    private static List<CheckpointTensor> MoveTrainedParametersOut(GraphProto graph, OnnxModel source)
    {
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var trained = new List<CheckpointTensor>();
        foreach (ValueInfoProto output in graph.Output.Skip(1))
        {
            if (!output.Name.EndsWith(TrainingModelLayout.DirectGradientSuffix, StringComparison.Ordinal))
            {
                continue;
            }
            string parameter = output.Name[..^TrainingModelLayout.DirectGradientSuffix.Length];
            if (!inputs.Contains(parameter) || !initializers.TryGetValue(parameter, out TensorProto? tensor))
            {
                continue;
            }
            if (tensor.DataType != (int)TensorProto.Types.DataType.Float)
            {
                throw new InvalidDataException($"Parameter '{parameter}' is {ElementTypes.Name(tensor.DataType)}; the trainer trains float32 parameters.");
            }
            float[] values = TensorData.ToFloats(tensor, source);
            trained.Add(new CheckpointTensor(parameter, tensor.Dims.ToArray(), values));
            graph.Initializer.Remove(tensor);
        }
        return trained;
    }

    /// <summary>The cross-entropy's log-probabilities [N, C] when the loss is ONNX Runtime's cross-entropy op (accuracy is read from them).</summary>
    private static IEnumerable<string> LogProbabilities(GraphProto graph)
    {
        string loss = graph.Output[0].Name;
        NodeProto? crossEntropy = graph.Node.FirstOrDefault(n => n.OpType == CrossEntropyOp && n.Output.Count > 1 && n.Output[0] == loss);
        return crossEntropy is not null && crossEntropy.Output[1].Length > 0 ? [crossEntropy.Output[1]] : [];
    }

    /// <summary>Writes <paramref name="model"/>, whose external data (if any) is named relative to <paramref name="source"/>'s folder.</summary>
    private static void Save(ModelProto model, OnnxModel source, string path) =>
        ModelWriter.Save(OnnxModel.FromProto(model, source.FileName, source.BaseDirectory, source.Limits), path);
}
