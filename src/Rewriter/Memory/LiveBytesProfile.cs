using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Memory;

/// <summary>One node of the liveness walk: the bytes of intermediate tensors alive right after it ran.</summary>
public readonly record struct LiveBytesPoint(int Step, string Node, string OpType, bool IsBackward, long LiveBytes);

/// <summary>
/// The live-bytes curve behind <see cref="MemoryEstimate.PeakBytes"/>: the same walk over the graph's
/// execution order (a tensor is alive from the node that produces it until its last reader), one
/// point per node, with the resident bytes kept apart. <see cref="ArenaPeakBytes"/> is the part an
/// ONNX Runtime session allocates from its CPU arena when the caller binds every graph input and
/// output to buffers of its own (as the trainer does): the intermediates only, without the graph
/// outputs, which ONNX Runtime writes straight into the bound buffers, and without the inputs.
/// </summary>
public sealed record LiveBytesProfile(
    IReadOnlyList<LiveBytesPoint> Points,
    long InputBytes,
    long InitializerBytes,
    long OutputBytes)
{
    /// <summary>Largest live intermediate bytes at any point (graph outputs included, as the estimate counts them).</summary>
    public long PeakLiveBytes => Points.Count == 0 ? 0 : Points.Max(p => p.LiveBytes);

    /// <summary>The estimate's peak: inputs and initializers resident throughout, plus the live peak.</summary>
    public long PeakBytes => InputBytes + InitializerBytes + PeakLiveBytes;

    /// <summary>Peak of the intermediates an arena holds when graph inputs and outputs are bound by the caller.</summary>
    public long ArenaPeakBytes { get; init; }

    /// <summary>Walks <paramref name="model"/>; null when a tensor's size is unknown (bind the symbols).</summary>
    public static LiveBytesProfile? Of(OnnxModel model, DimBindings? dims = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        OnnxGraph graph = model.Graph;
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(graph, dims ?? DimBindings.None);
        long? Size(string value) => types.TryGetValue(value, out TensorType? t) ? t.ByteSize : null;
        TrainingPhases phases = TrainingPhases.Classify(graph);
        IReadOnlyList<OnnxNode> order = graph.TopologicalOrder();

        long inputs = 0;
        foreach (ValueInfoProto input in graph.Proto.Input)
        {
            if (Size(input.Name) is not { } bytes) return null;
            inputs += bytes;
        }
        long initializers = graph.Proto.Initializer.Where(i => !graph.IsGraphInput(i.Name)).Sum(i => TensorData.ByteSize(i) ?? 0);

        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int step = 0; step < order.Count; step++)
        {
            foreach (string input in OnnxGraph.DependencyInputs(order[step])) lastUse[input] = step;
        }
        var outputs = graph.OutputNames.ToHashSet(StringComparer.Ordinal);
        foreach (string output in outputs) lastUse[output] = order.Count;

        var points = new List<LiveBytesPoint>(order.Count);
        var freeAt = new List<(long Bytes, bool IsOutput)>[order.Count + 1];
        long live = 0, arena = 0, arenaPeak = 0, outputBytes = 0;
        for (int step = 0; step < order.Count; step++)
        {
            OnnxNode node = order[step];
            foreach (string output in node.Outputs.Where(o => o.Length > 0))
            {
                if (Size(output) is not { } bytes) return null;
                bool isOutput = outputs.Contains(output);
                live += bytes;
                if (isOutput) outputBytes += bytes;
                else arena += bytes;
                int last = lastUse.GetValueOrDefault(output, step);
                (freeAt[last] ??= []).Add((bytes, isOutput));
            }
            points.Add(new LiveBytesPoint(step, node.Label, node.OpType, phases.IsBackward(node), live));
            arenaPeak = Math.Max(arenaPeak, arena);
            foreach ((long bytes, bool isOutput) in freeAt[step] ?? [])
            {
                live -= bytes;
                if (!isOutput) arena -= bytes;
            }
        }
        return new LiveBytesProfile(points, inputs, initializers, outputBytes) { ArenaPeakBytes = arenaPeak };
    }
}
