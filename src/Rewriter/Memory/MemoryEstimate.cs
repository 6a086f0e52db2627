using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Memory;

/// <summary>One tensor that forward produces and backward reads.</summary>
/// <param name="Name">The value's name.</param>
/// <param name="Kind">What backward keeps it for.</param>
/// <param name="Bytes">Its size, or null when a dimension or the element type is unknown.</param>
public sealed record SavedTensor(string Name, ActivationKind Kind, long? Bytes);

/// <summary>
/// The estimate of PRODUCT.md "How memory is measured": a liveness walk over the graph's execution
/// order (its topological order, which keeps the file order of a sorted graph) with shapes bound
/// by --dim. Saved activations are the tensors forward nodes produce and backward nodes read
/// (<see cref="TrainingPhases"/> says which is which), broken down by kind. The peak is the largest
/// sum, over the walk, of the intermediate tensors alive (produced and not yet read for the last
/// time; graph outputs stay alive to the end) plus the graph's inputs and initializers, resident
/// throughout. Figures are null where a size is unknown (bind the symbols with --dim).
/// This peak is a property of the graph, not of a runtime: ONNX Runtime runs another order, shares
/// buffers and rounds them in its arena; <see cref="Runtime.RuntimeArenaEstimate"/> models that
/// (`--runtime-peak`, and the bench's estimated peak).
/// </summary>
/// <param name="IsTrainingGraph">
/// True when the graph has backward nodes; an inference graph has no saved activations.
/// </param>
/// <param name="SavedActivationBytes">Sum of <paramref name="Saved"/>'s sizes, or null when any is unknown.</param>
/// <param name="PeakBytes">The liveness peak described above, or null when a size it needs is unknown.</param>
/// <param name="Saved">Every saved activation, in execution order.</param>
/// <param name="UnknownSizes">How many of <paramref name="Saved"/> have an unknown size.</param>
public sealed record MemoryEstimate(
    bool IsTrainingGraph,
    long? SavedActivationBytes,
    long? PeakBytes,
    IReadOnlyList<SavedTensor> Saved,
    int UnknownSizes)
{
    /// <summary>
    /// Where a figure is unknown: the symbolic dims, left unbound, in the shapes of the tensors whose
    /// sizes are unknown (what `--dim NAME=VALUE` would fix), sorted; empty when every figure is known
    /// or the unknown sizes have no symbol to bind (a shape inference could not follow).
    /// </summary>
    public IReadOnlyList<string> UnboundSymbols { get; init; } = [];

    /// <summary>Saved bytes by kind (kinds whose tensors all have known sizes).</summary>
    public IReadOnlyDictionary<ActivationKind, long> ByKind =>
        Saved.GroupBy(s => s.Kind).ToDictionary(g => g.Key, g => g.Sum(s => s.Bytes ?? 0));

    /// <summary>
    /// Estimates <paramref name="model"/> with symbolic dims bound by <paramref name="dims"/>; an
    /// inference graph gets a peak and no saved tensors.
    /// </summary>
    public static MemoryEstimate Of(OnnxModel model, DimBindings? dims = null)
    {
        OnnxGraph graph = model.Graph;
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(graph, dims ?? DimBindings.None);
        var phases = TrainingPhases.Classify(graph);
        IReadOnlyList<OnnxNode> order = graph.TopologicalOrder();
        long? Size(string value) => types.TryGetValue(value, out TensorType? t) ? t.ByteSize : null;

        var saved = new List<SavedTensor>();
        foreach (OnnxNode node in order.Where(n => !phases.IsBackward(n)))
        {
            foreach (string output in node.Outputs.Where(o => o.Length > 0))
            {
                var readers = phases.BackwardReaders(output).Where(r => !r.Is("Shape")).ToList();
                if (readers.Count > 0)
                {
                    saved.Add(new SavedTensor(output, ActivationKinds.Of(node, readers, graph.Consumers(output).Where(r => !phases.IsBackward(r))), Size(output)));
                }
            }
        }
        int unknown = saved.Count(s => s.Bytes is null);
        long? savedBytes = unknown == 0 ? saved.Sum(s => s.Bytes!.Value) : null;
        long? peak = Peak(graph, order, Size);
        bool anyUnknown = peak is null || (phases.IsTrainingGraph && savedBytes is null);
        return new MemoryEstimate(phases.IsTrainingGraph, savedBytes, peak, saved, unknown)
        {
            UnboundSymbols = anyUnknown ? UnboundSymbolsOf(graph, types) : [],
        };
    }

    private static List<string> UnboundSymbolsOf(OnnxGraph graph, IReadOnlyDictionary<string, TensorType> types)
    {
        var symbols = new SortedSet<string>(StringComparer.Ordinal);
        IEnumerable<string> values = graph.Proto.Input.Select(i => i.Name).Concat(graph.Nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0));
        foreach (string value in values)
        {
            if (types.TryGetValue(value, out TensorType? type) && type.ByteSize is null && type.Shape is { } shape)
            {
                foreach (Dim dim in shape.Dims.Where(d => !d.IsKnown && d.Symbol is not null)) symbols.Add(dim.Symbol!);
            }
        }
        return [.. symbols];
    }

    private static long? Peak(OnnxGraph graph, IReadOnlyList<OnnxNode> order, Func<string, long?> size)
    {
        long resident = 0;
        foreach (ValueInfoProto input in graph.Proto.Input)
        {
            if (size(input.Name) is not { } b) return null;
            resident += b;
        }
        foreach (TensorProto initializer in graph.Proto.Initializer.Where(i => !graph.IsGraphInput(i.Name)))
        {
            resident += TensorData.ByteSize(initializer) ?? 0;
        }
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int step = 0; step < order.Count; step++)
        {
            foreach (string input in OnnxGraph.DependencyInputs(order[step])) lastUse[input] = step;
        }
        foreach (string output in graph.OutputNames) lastUse[output] = order.Count;
        long live = 0, peak = 0;
        var freeAt = new List<string>[order.Count + 1];
        for (int step = 0; step < order.Count; step++)
        {
            foreach (string output in order[step].Outputs.Where(o => o.Length > 0))
            {
                if (size(output) is not { } bytes) return null;
                live += bytes;
                int last = lastUse.GetValueOrDefault(output, step);
                (freeAt[last] ??= []).Add(output);
            }
            peak = Math.Max(peak, live);
            foreach (string value in freeAt[step] ?? [])
            {
                live -= size(value)!.Value;
            }
        }
        return resident + peak;
    }
}
