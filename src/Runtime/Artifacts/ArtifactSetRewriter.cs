using Google.Protobuf;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>What rewriting a set changed besides training_model.onnx.</summary>
public sealed record ArtifactRewrite(
    ArtifactSet Set,
    PassResult Passes,
    IReadOnlyList<string> DroppedFrozenParameters,
    bool CheckpointRewritten,
    bool EvalModelRewritten);

/// <summary>
/// Rewrites an artifact set's training_model.onnx with the memory passes and keeps the set
/// consistent. The passes fold frozen γ/β into frozen linear weights, which they must see as
/// constants: a frozen parameter that the set keeps in its checkpoint (a graph input there) is put
/// into the graph as an initializer for the rewrite. Afterwards every such parameter the rewritten
/// graph still reads unchanged goes back to the checkpoint; one the fold consumed or replaced
/// leaves the checkpoint, and the eval model, which still computes with it, gets its original value
/// as an initializer instead of an input. Weights that are initializers of the graphs already (ONNX
/// Runtime's generator default) need nothing: the eval model holds its own copy. Trainable
/// parameters are never changed by the passes (a trainable affine is applied explicitly), so they,
/// the optimizer model and the optimizer state stay as they were. The input set is not modified.
/// </summary>
public static class ArtifactSetRewriter
{
    /// <summary>
    /// Runs <paramref name="passes"/> on the set's training model, each rewrite checked to load in ONNX
    /// Runtime (<see cref="OnnxMemOpt.Passes.CheckedPasses"/>), and returns a new set with checkpoint and
    /// eval model adjusted for the frozen parameters the passes consumed.
    /// </summary>
    /// <param name="set">The set to rewrite; it is not modified.</param>
    /// <param name="passes">Memory pass names (see MemoryPasses.All); empty returns an equivalent set.</param>
    /// <param name="dims">Values for the graph's symbolic dimensions, for passes that need concrete shapes; null leaves them symbolic.</param>
    /// <param name="options">Options for the passes; null takes their defaults.</param>
    public static ArtifactRewrite Rewrite(ArtifactSet set, IReadOnlyList<string> passes, DimBindings? dims = null, RewriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(passes);
        OnnxModel source = set.TrainingModel;
        ModelProto training = source.Proto.Clone();
        var frozen = set.Checkpoint.FrozenParameters.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var inlined = InlineFrozenInputs(training.Graph, frozen);

        OnnxModel model = OnnxModel.FromProto(training, source.FileName, source.BaseDirectory, source.Limits);
        PassResult result = passes.Count == 0 ? new PassResult() : CheckedPasses.Run(model, passes, dims, options, Sessions.RuntimeLoadCheck.Refusal);

        GraphProto graph = model.Proto.Graph;
        var dropped = new List<string>();
        var restored = new List<ValueInfoProto>();
        foreach (var (name, input) in inlined)
        {
            TensorProto? tensor = graph.Initializer.FirstOrDefault(t => t.Name == name);
            bool stillRead = graph.Node.Any(n => n.Input.Contains(name));
            if (tensor is not null && stillRead && SameValues(tensor, frozen[name]))
            {
                graph.Initializer.Remove(tensor);
                restored.Add(input);
            }
            else
            {
                if (tensor is not null)
                {
                    graph.Initializer.Remove(tensor);
                }
                dropped.Add(name);
            }
        }
        InsertBeforeGradientBuffers(graph, restored);

        OrtCheckpoint checkpoint = set.Checkpoint;
        OnnxModel? eval = set.EvalModel;
        bool evalRewritten = false;
        if (dropped.Count > 0)
        {
            var gone = dropped.ToHashSet(StringComparer.Ordinal);
            checkpoint = new OrtCheckpoint
            {
                Version = checkpoint.Version,
                TrainableParameters = checkpoint.TrainableParameters,
                FrozenParameters = checkpoint.FrozenParameters.Where(t => !gone.Contains(t.Name)).ToList(),
                OptimizerGroups = checkpoint.OptimizerGroups,
                Properties = checkpoint.Properties,
            };
            if (eval is not null && eval.Proto.Graph.Input.Any(i => gone.Contains(i.Name)))
            {
                ModelProto evalProto = eval.Proto.Clone();
                InlineFrozenInputs(evalProto.Graph, frozen.Where(f => gone.Contains(f.Key)).ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal));
                eval = OnnxModel.FromProto(evalProto, eval.FileName, eval.BaseDirectory, eval.Limits);
                evalRewritten = true;
            }
        }

        var rewritten = new ArtifactSet
        {
            TrainingModel = OnnxModel.FromProto(model.Proto, source.FileName, source.BaseDirectory, source.Limits),
            EvalModel = eval,
            OptimizerModel = set.OptimizerModel,
            Checkpoint = checkpoint,
            Source = set.Source,
        };
        return new ArtifactRewrite(rewritten, result, dropped, CheckpointRewritten: dropped.Count > 0, evalRewritten);
    }

    /// <summary>Turns the graph inputs named in <paramref name="frozen"/> into initializers holding the checkpoint's values; returns the inputs removed.</summary>
    private static List<(string Name, ValueInfoProto Input)> InlineFrozenInputs(GraphProto graph, IReadOnlyDictionary<string, CheckpointTensor> frozen)
    {
        var inlined = new List<(string, ValueInfoProto)>();
        foreach (ValueInfoProto input in graph.Input.Where(i => frozen.ContainsKey(i.Name) && graph.Initializer.All(t => t.Name != i.Name)).ToList())
        {
            CheckpointTensor tensor = frozen[input.Name];
            graph.Input.Remove(input);
            graph.Initializer.Add(ToTensorProto(tensor));
            inlined.Add((input.Name, input));
        }
        return inlined;
    }

    /// <summary>Frozen parameters return to their place among the parameter inputs, before the gradient buffers.</summary>
    private static void InsertBeforeGradientBuffers(GraphProto graph, IReadOnlyList<ValueInfoProto> inputs)
    {
        int index = graph.Input.ToList().FindIndex(i =>
            i.Name.EndsWith(TrainingModelLayout.GradientBufferSuffix, StringComparison.Ordinal) || i.Name == TrainingModelLayout.LazyResetGradInput);
        if (index < 0)
        {
            index = graph.Input.Count;
        }
        for (int i = 0; i < inputs.Count; i++)
        {
            graph.Input.Insert(index + i, inputs[i]);
        }
    }

    private static TensorProto ToTensorProto(CheckpointTensor tensor)
    {
        var proto = new TensorProto { Name = tensor.Name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(tensor.Dims);
        proto.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensor.Data.AsSpan()));
        return proto;
    }

    private static bool SameValues(TensorProto tensor, CheckpointTensor original) =>
        tensor.DataType == (int)TensorProto.Types.DataType.Float
        && tensor.Dims.SequenceEqual(original.Dims)
        && TensorData.ToFloats(tensor).AsSpan().SequenceEqual(original.Data);
}
