namespace OnnxMemOpt.Graph.Shapes;

/// <summary>MatMul (numpy semantics), com.microsoft FusedMatMul (with transposes), Gemm and com.microsoft FusedGemm.</summary>
internal static class LinearAlgebraShapes
{
    public static void MatMul(OnnxNode node, ShapeContext context) =>
        SetMatMul(node, context, transA: false, transB: false);

    public static void FusedMatMul(OnnxNode node, ShapeContext context) =>
        SetMatMul(node, context, node.GetInt("transA", 0) != 0, node.GetInt("transB", 0) != 0);

    public static void Gemm(OnnxNode node, ShapeContext context)
    {
        TensorShape? a = context.ShapeOf(node.Input(0)), b = context.ShapeOf(node.Input(1));
        if (a is not { Rank: 2 } || b is not { Rank: 2 })
        {
            context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(0)), null));
            return;
        }
        Dim m = node.GetInt("transA", 0) != 0 ? a.Dims[1] : a.Dims[0];
        Dim n = node.GetInt("transB", 0) != 0 ? b.Dims[0] : b.Dims[1];
        context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(0)), new TensorShape([m, n])));
    }

    private static void SetMatMul(OnnxNode node, ShapeContext context, bool transA, bool transB)
    {
        int elementType = context.ElementTypeOf(node.Input(0));
        TensorShape? a = context.ShapeOf(node.Input(0)), b = context.ShapeOf(node.Input(1));
        if (a is null || b is null || a.Rank == 0 || b.Rank == 0)
        {
            context.SetType(node.Output(0), new TensorType(elementType, null));
            return;
        }
        var aDims = a.Dims.ToList();
        var bDims = b.Dims.ToList();
        bool aVector = aDims.Count == 1, bVector = bDims.Count == 1;
        if (aVector) aDims.Insert(0, Dim.Of(1));
        if (bVector) bDims.Add(Dim.Of(1));
        if (transA) (aDims[^1], aDims[^2]) = (aDims[^2], aDims[^1]);
        if (transB) (bDims[^1], bDims[^2]) = (bDims[^2], bDims[^1]);
        TensorShape? batch = ShapeMath.Broadcast([new TensorShape(aDims.Take(aDims.Count - 2).ToArray()), new TensorShape(bDims.Take(bDims.Count - 2).ToArray())]);
        var dims = batch!.Dims.ToList();
        if (!aVector) dims.Add(aDims[^2]);
        if (!bVector) dims.Add(bDims[^1]);
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
    }
}
