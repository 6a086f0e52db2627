using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Memory;

/// <summary>
/// The model of ONNX Runtime's memory behaviour on small hand-built graphs, each expectation derived by
/// hand from the runtime's rules (Graph::ReverseDFSFrom, PlannerImpl, BFCArena).
/// </summary>
public class RuntimeMemoryModelTests
{
    private const int Float = (int)TensorProto.Types.DataType.Float;

    private static TensorType F(params long[] dims) => new(Float, TensorShape.Of(dims));

    private static RuntimeNode N(int index, string op, string[] inputs, string[] outputs, string domain = "") =>
        new(index, $"n{index}", domain, op, inputs, outputs);

    private static RuntimeGraph Graph(IEnumerable<RuntimeNode> nodes, Dictionary<string, TensorType> types, string[] inputs, string[] outputs,
        Dictionary<string, long[]>? ints = null) =>
        new(nodes, inputs.ToHashSet(), outputs.ToHashSet(), (ints?.Keys.ToHashSet() ?? []), types, ints);

    [Fact]
    public void ExecutionOrderIsTheReverseDepthFirstSearchFromTheLeaves()
    {
        // n3 reads n1 and n2, n2 reads n0; n4 is a second leaf. Leaves go on the stack in index order
        // (n3, n4), so n4 is expanded first; n3's producers are pushed ascending (n1, n2), so n2 (the
        // higher index) is expanded before n1. Kahn's order by file position would be n0 n1 n2 n3 n4.
        var nodes = new[]
        {
            N(0, "Relu", ["x"], ["a"]),
            N(1, "Relu", ["x"], ["b"]),
            N(2, "Relu", ["a"], ["c"]),
            N(3, "Add", ["b", "c"], ["y"]),
            N(4, "Relu", ["x"], ["z"]),
        };
        RuntimeGraph graph = Graph(nodes, [], ["x"], ["y", "z"]);
        Assert.Equal(["n4", "n0", "n2", "n1", "n3"], RuntimeExecutionOrder.Of(graph).Select(n => n.Name));
    }

    [Fact]
    public void ConstantNodesBecomeInitializersAndLeaveTheNodeIndices()
    {
        var value = new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = TinyModel.FloatTensor("k", [4], [1, 2, 3, 4]),
        };
        var model = OnnxModel.FromProto(new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 4)
            .Node("Constant", [], ["k"], "", value)
            .Node("Add", ["x", "k"], ["s"])
            .Node("Relu", ["s"], ["y"])
            .Output("y", TensorProto.Types.DataType.Float, 4)
            .Build());
        RuntimeGraph graph = RuntimeGraph.Of(model.Graph, new Dictionary<string, TensorType>());
        Assert.Equal([(0, "Add"), (1, "Relu")], graph.Nodes.Select(n => (n.Index, n.OpType)));
        Assert.True(graph.IsPreExisting("k"));
    }

    [Fact]
    public void PlannerAliasesReusesInPlaceAndTakesDeadBuffersOfTheSameShape()
    {
        // x [4,256] float = 4096 bytes. Relu cannot work in place on x (a graph input is never freed);
        // Reshape aliases r; Sigmoid is v's last reader with the same static shape: in place (buffer r);
        // Neg (no in-place kernel) needs a new buffer e while r is still read; after step 3 r is dead,
        // so f takes r from the freelist; y is a graph output (bound by the caller, not the arena).
        var types = new Dictionary<string, TensorType>
        {
            ["x"] = F(4, 256), ["shape"] = new(7, TensorShape.Of(2)), ["r"] = F(4, 256), ["v"] = F(4, 256),
            ["s"] = F(4, 256), ["e"] = F(4, 256), ["f"] = F(4, 256), ["y"] = F(4, 256),
        };
        var nodes = new[]
        {
            N(0, "Relu", ["x"], ["r"]),
            N(1, "Reshape", ["r", "shape"], ["v"]),
            N(2, "Sigmoid", ["v"], ["s"]),
            N(3, "Neg", ["s"], ["e"]),
            N(4, "Neg", ["e"], ["f"]),
            N(5, "Neg", ["f"], ["y"]),
        };
        RuntimeGraph graph = Graph(nodes, types, ["x"], ["y"], new() { ["shape"] = [4, 256] });
        IReadOnlyList<RuntimeNode> order = RuntimeExecutionOrder.Of(graph);
        ArenaTimeline timeline = RuntimeAllocationPlanner.Simulate(graph, order, RuntimeStaticShapes.Of(graph, order))!;

        Assert.Equal("r", timeline.Buffers["v"]);
        Assert.Equal("r", timeline.Buffers["s"]);
        Assert.Equal("e", timeline.Buffers["e"]);
        Assert.Equal("r", timeline.Buffers["f"]);
        Assert.Equal(
            [new BufferLife("r", 4096, 0, 5), new BufferLife("e", 4096, 3, 4)],
            timeline.Lives);
        Assert.Equal([4096L, 4096, 4096, 8192, 8192, 4096], timeline.InUse);
    }

    [Fact]
    public void OutputsOfOpsWithoutShapeInferenceGetBuffersOfTheirOwn()
    {
        // GeluGrad comes from this project's custom-op library (no shape inference in the runtime), so
        // g and its consumer's output n have no static shape: n cannot take the dead buffer of a,
        // though it has the same size. A Reshape to a fixed shape is static again.
        var types = new Dictionary<string, TensorType>
        {
            ["x"] = F(8, 8), ["a"] = F(8, 8), ["g"] = F(8, 8), ["n"] = F(8, 8), ["shape"] = new(7, TensorShape.Of(2)),
            ["m"] = F(8, 8), ["y"] = F(8, 8),
        };
        var nodes = new[]
        {
            N(0, "Neg", ["x"], ["a"]),
            N(1, "GeluGrad", ["a", "x"], ["g"], "com.microsoft"),
            N(2, "Neg", ["g"], ["n"]),
            N(3, "Reshape", ["n", "shape"], ["m"]),
            N(4, "Neg", ["m"], ["y"]),
        };
        RuntimeGraph graph = Graph(nodes, types, ["x"], ["y"], new() { ["shape"] = [8, 8] });
        IReadOnlyList<RuntimeNode> order = RuntimeExecutionOrder.Of(graph);
        IReadOnlySet<string> known = RuntimeStaticShapes.Of(graph, order);
        Assert.Contains("a", known);
        Assert.DoesNotContain("g", known);
        Assert.DoesNotContain("n", known);
        Assert.Contains("m", known);
        ArenaTimeline timeline = RuntimeAllocationPlanner.Simulate(graph, order, known)!;
        Assert.Equal(["a", "g", "n"], timeline.AllocatedValues.OrderBy(v => v));
    }

    [Fact]
    public void TheLossAndItsGradientTakeTheScoresBufferInPlace()
    {
        // The library infers log_prob = scores' shape, loss = scalar (labels known), d_logits =
        // log_prob's shape, and declares log_prob over the scores and d_logits over log_prob. s is
        // only read by the loss and lp only by its gradient, so all three share s's buffer;
        // SoftmaxGrad_13's dX (Y's shape) then goes over its dY d, which nothing else reads. The
        // loss is a graph output.
        var types = new Dictionary<string, TensorType>
        {
            ["x"] = F(16, 64), ["labels"] = new(7, TensorShape.Of(16)), ["dy"] = F(), ["s"] = F(16, 64), ["loss"] = F(),
            ["lp"] = F(16, 64), ["d"] = F(16, 64), ["g"] = F(16, 64), ["y"] = F(16, 64),
        };
        var nodes = new[]
        {
            N(0, "Neg", ["x"], ["s"]),
            N(1, "SoftmaxCrossEntropyLossInternal", ["s", "labels"], ["loss", "lp"], "com.microsoft"),
            N(2, "SoftmaxCrossEntropyLossInternalGrad", ["dy", "lp", "labels"], ["d"], "com.microsoft"),
            N(3, "SoftmaxGrad_13", ["d", "x"], ["g"], "com.microsoft"),
            N(4, "Neg", ["g"], ["y"]),
        };
        RuntimeGraph graph = Graph(nodes, types, ["x", "labels", "dy"], ["loss", "y"]);
        IReadOnlyList<RuntimeNode> order = RuntimeExecutionOrder.Of(graph);
        IReadOnlySet<string> known = RuntimeStaticShapes.Of(graph, order);
        Assert.Superset(new HashSet<string> { "s", "loss", "lp", "d", "g" }, known.ToHashSet());
        ArenaTimeline timeline = RuntimeAllocationPlanner.Simulate(graph, order, known)!;
        Assert.Equal("s", timeline.Buffers["lp"]);
        Assert.Equal("s", timeline.Buffers["d"]);
        Assert.Equal("s", timeline.Buffers["g"]);
        Assert.Equal([new BufferLife("s", 4096, 0, 4)], timeline.Lives);
    }

    [Fact]
    public void TheLossIsNotWrittenOverScoresThatAreReadAgain()
    {
        // s has a second reader after the loss: its buffer is not free when the loss runs.
        var types = new Dictionary<string, TensorType>
        {
            ["x"] = F(16, 64), ["labels"] = new(7, TensorShape.Of(16)), ["s"] = F(16, 64), ["loss"] = F(), ["lp"] = F(16, 64),
            ["t"] = F(16, 64), ["y"] = F(16, 64),
        };
        var nodes = new[]
        {
            N(0, "Neg", ["x"], ["s"]),
            N(1, "SoftmaxCrossEntropyLossInternal", ["s", "labels"], ["loss", "lp"], "com.microsoft"),
            N(2, "Add", ["s", "lp"], ["y"]),
        };
        RuntimeGraph graph = Graph(nodes, types, ["x", "labels"], ["loss", "y"]);
        IReadOnlyList<RuntimeNode> order = RuntimeExecutionOrder.Of(graph);
        ArenaTimeline timeline = RuntimeAllocationPlanner.Simulate(graph, order, RuntimeStaticShapes.Of(graph, order))!;
        Assert.Equal("lp", timeline.Buffers["lp"]);
    }

    [Fact]
    public void BfcArenaRoundsSplitsOnlyLargeChunksAndCountsWholeChunks()
    {
        var arena = new BfcArenaReplay();
        // 600,000 → 600,064 bytes; the first region is 1 MiB, less than twice that: not split, the
        // whole 1,048,576-byte chunk is in use.
        long a = arena.Allocate(600_000);
        Assert.Equal(1_048_576, arena.InUse);
        // No free chunk: a second region of 2 MiB, split, 300,032 bytes in use.
        arena.Allocate(300_000);
        Assert.Equal(1_048_576 + 300_032, arena.InUse);
        arena.Free(a);
        Assert.Equal(300_032, arena.InUse);
        // Best fit among the free chunks (1 MiB and the 1,797,120-byte rest of region 2): the 1 MiB
        // chunk, again not split for 700,160 bytes.
        arena.Allocate(700_000);
        Assert.Equal(300_032 + 1_048_576, arena.InUse);
        Assert.Equal(1_348_608, arena.MaxInUse);
    }
}
