using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>What the memory rules share: the project's op domain, backward-reader checks, byte sizes.</summary>
internal static class MemoryRuleSupport
{
    public const string Domain = "com.onnxmemopt";

    /// <summary>
    /// Null when <paramref name="value"/> is read in backward only by <paramref name="allowed"/>
    /// (which the rewrite removes), else why the value would still be kept for backward.
    /// </summary>
    public static string? StillKeptBy(RewriteContext context, string value, params OnnxNode[] allowed)
    {
        var phases = context.Phases;
        OnnxNode? other = phases.BackwardReaders(value).FirstOrDefault(n => !n.Is("Shape") && !allowed.Contains(n, ReferenceEqualityComparer.Instance));
        return other is null ? null : $"'{value}' is also read by backward node {other.Label}, so it would still be kept for backward";
    }

    /// <summary>
    /// Backward Shape nodes read only <paramref name="value"/>'s shape, yet would keep its data alive
    /// until they run: point them at <paramref name="sameShape"/>, a value of the same shape that
    /// backward keeps anyway. (<see cref="StillKeptBy"/> does not count them for that reason.)
    /// </summary>
    public static void RedirectBackwardShapeReaders(RewriteContext context, string value, string sameShape)
    {
        var phases = context.Phases;
        foreach (OnnxNode shape in phases.BackwardReaders(value).Where(n => n.Is("Shape")).ToList())
        {
            shape.SetInput(0, sameShape);
        }
    }

    /// <summary>Bytes of a value when its type and shape are known (bind symbols with --dim), else null.</summary>
    public static long? Bytes(RewriteContext context, string value) => context.TypeOf(value)?.ByteSize;

    public static long? ElementCount(RewriteContext context, string value) => context.TypeOf(value)?.Shape?.ElementCount;

    /// <summary>Bytes of a 2-bit code for <paramref name="value"/>: ⌈N/4⌉.</summary>
    public static long? CodeBytes(RewriteContext context, string value) =>
        ElementCount(context, value) is { } n ? (n + 3) / 4 : null;

    public static void EnsureDomain(RewriteContext context) => context.Model.EnsureOpset(Domain, 1);

    /// <summary>Bytes of a float32 per-row statistic (mean or 1/σ) for rows of <paramref name="value"/> normalised from <paramref name="axis"/>.</summary>
    public static long? RowStatisticBytes(RewriteContext context, string value, long axis)
    {
        TensorShape? shape = context.TypeOf(value)?.Shape;
        if (shape is null) return null;
        int first = (int)(axis < 0 ? axis + shape.Rank : axis);
        long rows = 1;
        for (int i = 0; i < first; i++)
        {
            if (shape.Dims[i].Value is not { } d) return null;
            rows *= d;
        }
        return ElementTypes.ByteCount(ElementTypes.Float, rows);
    }

    /// <summary>ReduceSum over <paramref name="axes"/>: axes as an input from opset 13, else an attribute.</summary>
    public static NodeProto ReduceSum(RewriteContext context, string input, long[] axes, bool keepDims, string output, string name)
    {
        OnnxGraph graph = context.Graph;
        AttributeProto keep = GraphEdits.Attr("keepdims", keepDims ? 1L : 0L);
        if (context.OnnxOpset >= 13)
        {
            string axesValue = graph.UniqueName($"{name}/axes");
            graph.AddInitializer(TensorData.CreateInt64(axesValue, [axes.Length], axes));
            return GraphEdits.Node("ReduceSum", "", graph.UniqueName(name), [input, axesValue], [output], keep);
        }
        var node = GraphEdits.Node("ReduceSum", "", graph.UniqueName(name), [input], [output], keep);
        var attribute = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(axes);
        node.Attribute.Add(attribute);
        return node;
    }

    /// <summary>True when a node reads <paramref name="value"/> or it is a graph output.</summary>
    public static bool IsUsed(OnnxGraph graph, string value) => graph.Consumers(value).Count > 0 || graph.IsGraphOutput(value);
}
