using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>ReduceMean/ReduceSum/... (axes as attribute before opset 18, as input after) and ArgMax/ArgMin.</summary>
internal static class ReductionShapes
{
    public static readonly string[] Reductions = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "ReduceSumTraining"];

    public static void Reduce(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        int elementType = context.ElementTypeOf(node.Input(0));
        bool keep = node.GetInt("keepdims", 1) != 0;
        long[]? axes = LayoutShapes.Axes(node, context, 1);
        if (input is null || (axes is null && node.Input(1) is not null))
        {
            context.SetType(node.Output(0), new TensorType(elementType, null));
            return;
        }
        bool noopWhenEmpty = node.GetInt("noop_with_empty_axes", 0) != 0;
        HashSet<int> reduced = axes is null || axes.Length == 0
            ? (noopWhenEmpty ? [] : Enumerable.Range(0, input.Rank).ToHashSet())
            : axes.Select(a => ShapeMath.NormalizeAxis(a, input.Rank)).ToHashSet();
        var dims = new List<Dim>();
        for (int i = 0; i < input.Rank; i++)
        {
            if (!reduced.Contains(i)) dims.Add(input.Dims[i]);
            else if (keep) dims.Add(Dim.Of(1));
        }
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
    }

    public static void ArgReduce(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        if (input is null) { context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, null)); return; }
        int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", 0), input.Rank);
        bool keep = node.GetInt("keepdims", 1) != 0;
        var dims = input.Dims.Select((d, i) => i == axis ? Dim.Of(1) : d).Where((_, i) => keep || i != axis).ToArray();
        context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, new TensorShape(dims)));
    }
}
