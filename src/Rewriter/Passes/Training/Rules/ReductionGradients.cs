using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// ReduceSum: dX = Expand(dY with the reduced axes restored, Shape(X)). ReduceMean: the same,
/// divided by the number of elements averaged (a constant when those dims are known, else
/// Size(Y)/Size(X) at run time).
/// </summary>
internal sealed class ReductionGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "ReduceSum"), ("", "ReduceMean")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string x = node.Input(0)!;
        if (!c.NeedsGradient(x)) return;
        string dY = outputGradients[0]!;
        int rank = RuleHelpers.RequireRank(c, node, x);
        string hint = GradientContext.GradName(x);
        long[] axes = ReducedAxes(node, c, rank);
        if (axes.Length == 0)
        {
            // noop_with_empty_axes: the op was an identity.
            c.AddGradient(x, dY);
            return;
        }
        string g = dY;
        if (node.GetInt("keepdims", 1) == 0)
        {
            g = c.Emit.Unsqueeze(g, axes, hint);
        }
        string expanded = c.Emit.Op("Expand", [g, ShapeConstantOrRuntime(c, x)], hint);
        if (node.OpType == "ReduceMean")
        {
            expanded = c.Emit.Op("Mul", [expanded, InverseCount(c, node, x, axes)], hint);
        }
        c.AddGradient(x, expanded);
    }

    private static long[] ReducedAxes(OnnxNode node, GradientContext c, int rank)
    {
        bool axesFromInput = node.GetInts("axes") is null && node.Input(1) is not null;
        long[]? axes = RuleHelpers.AxesOf(c, node);
        if (axes is null && axesFromInput)
        {
            throw new UnsupportedModelException(c.ModelFile, $"{node.OpType} with axes computed at run time has no gradient rule", node.Label);
        }
        if (axes is null || axes.Length == 0)
        {
            return node.GetInt("noop_with_empty_axes", 0) != 0 ? [] : Enumerable.Range(0, rank).Select(a => (long)a).ToArray();
        }
        return axes.Select(a => (long)RuleHelpers.NormalizeAxis(a, rank)).Order().ToArray();
    }

    internal static string ShapeConstantOrRuntime(GradientContext c, string x) =>
        c.ShapeOf(x) is { IsFullyKnown: true } s ? c.Emit.Int64s(s.Dims.Select(d => d.Value!.Value).ToArray()) : c.Emit.Shape(x);

    private static string InverseCount(GradientContext c, OnnxNode node, string x, long[] axes)
    {
        int type = c.ElementTypeOf(x);
        TensorShape shape = c.ShapeOf(x)!;
        if (axes.All(a => shape.Dims[(int)a].IsKnown))
        {
            long count = axes.Aggregate(1L, (n, a) => n * shape.Dims[(int)a].Value!.Value);
            return c.Emit.Scalar(1.0 / count, type, "inv_count");
        }
        string sizeY = c.Emit.Cast(c.Emit.Op("Size", [node.Output(0)!], node.Output(0)! + "_size"), type, "size_y");
        string sizeX = c.Emit.Cast(c.Emit.Op("Size", [x], x + "_size"), type, "size_x");
        return c.Emit.Op("Div", [sizeY, sizeX], "inv_count");
    }
}
