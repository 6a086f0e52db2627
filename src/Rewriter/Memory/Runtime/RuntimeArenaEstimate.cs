using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Memory.Runtime;

/// <summary>Where a graph's node order comes from.</summary>
public enum NodeOrderSource
{
    /// <summary>A graph as written for the runtime: it runs it in <see cref="RuntimeExecutionOrder"/>.</summary>
    AsLoaded,

    /// <summary>
    /// A graph ONNX Runtime wrote after its own optimisations (session.optimized_model_filepath):
    /// Graph::ToGraphProto writes the nodes in GraphViewer's topological order, which is the order the
    /// sequential executor runs, so the file order is the execution order.
    /// </summary>
    WrittenByRuntime,
}

/// <summary>
/// The estimate of ONNX Runtime's CPU arena peak (MaxInUse) for a training step whose graph inputs
/// and outputs the caller binds (memory pattern off): the runtime's execution order, its allocation
/// planner's buffer sharing (<see cref="RuntimeAllocationPlanner"/>) and its BFC arena
/// (<see cref="BfcArenaReplay"/>, two runs as the bench's warm-up and first step).
/// The runtime's graph optimisations (MatMul+Transpose, MatMul+Add and MatMul+scale fusions,
/// constant folding) change which tensors exist, so the figure matches the runtime only on the graph
/// it runs: pass the graph the runtime wrote after optimising (<see cref="NodeOrderSource.WrittenByRuntime"/>).
/// On an unoptimised graph the figure is an upper bound of the same model.
/// </summary>
public static class RuntimeArenaEstimate
{
    /// <summary>Runs of the step replayed on one arena (the bench's warm-up step and the steps after it).</summary>
    public const int Runs = 2;

    /// <summary>
    /// The runtime's allocation plan for one step of <paramref name="model"/>, nodes ordered as
    /// <paramref name="source"/> says; null when a buffer's size is unknown (bind the symbols).
    /// </summary>
    public static ArenaTimeline? Timeline(OnnxModel model, NodeOrderSource source, DimBindings? dims = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph, dims ?? DimBindings.None);
        RuntimeGraph graph = RuntimeGraph.Of(model.Graph, types);
        IReadOnlyList<RuntimeNode> order = source == NodeOrderSource.WrittenByRuntime ? graph.Nodes.ToList() : RuntimeExecutionOrder.Of(graph);
        return RuntimeAllocationPlanner.Simulate(graph, order, RuntimeStaticShapes.Of(graph, order));
    }

    /// <summary>The arena's MaxInUse; null when a buffer's size is unknown (bind the symbols).</summary>
    public static long? PeakBytes(OnnxModel model, NodeOrderSource source, DimBindings? dims = null) => Replay(model, source, dims)?.MaxInUse;

    /// <summary>The arena replay (peak and bytes per step); null when a buffer's size is unknown.</summary>
    public static ArenaReplay? Replay(OnnxModel model, NodeOrderSource source, DimBindings? dims = null) =>
        Timeline(model, source, dims) is { } timeline ? BfcArenaReplay.Replay(timeline, Runs) : null;
}
