namespace OnnxMemOpt.Graph.Shapes;

/// <summary>MatMul (numpy semantics), com.microsoft FusedMatMul (with transposes), Gemm and com.microsoft FusedGemm, Conv.</summary>
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

    /// <summary>
    /// Conv: [N, C, D1, ...] with weights [M, C/group, k1, ...] gives [N, M, o1, ...],
    /// oᵢ = ⌊(Dᵢ + padsᵢ − dilationᵢ·(kᵢ − 1) − 1) / strideᵢ⌋ + 1 (SAME padding: ⌈Dᵢ / strideᵢ⌉).
    /// </summary>
    public static void Conv(OnnxNode node, ShapeContext context)
    {
        int elementType = context.ElementTypeOf(node.Input(0));
        TensorShape? x = context.ShapeOf(node.Input(0)), w = context.ShapeOf(node.Input(1));
        if (x is null || w is null || x.Rank < 3 || w.Rank != x.Rank)
        {
            context.SetType(node.Output(0), new TensorType(elementType, null));
            return;
        }
        int spatial = x.Rank - 2;
        IReadOnlyList<long> kernel = node.GetInts("kernel_shape") ?? w.Dims.Skip(2).Select(d => d.Value ?? -1).ToArray();
        IReadOnlyList<long> strides = node.GetInts("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        IReadOnlyList<long> dilations = node.GetInts("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        IReadOnlyList<long> pads = node.GetInts("pads") ?? Enumerable.Repeat(0L, 2 * spatial).ToArray();
        string autoPad = node.Attribute("auto_pad") is { } a ? a.S.ToStringUtf8() : "NOTSET";
        var dims = new List<Dim> { x.Dims[0], w.Dims[0] };
        for (int i = 0; i < spatial; i++)
        {
            long? input = x.Dims[2 + i].Value;
            long stride = strides[i];
            dims.Add(input is not { } size || kernel[i] < 1 || stride < 1 ? Dim.Unknown
                : autoPad is "SAME_UPPER" or "SAME_LOWER" ? Dim.Of((size + stride - 1) / stride)
                : Dim.Of((size + (autoPad == "VALID" ? 0 : pads[i] + pads[spatial + i]) - dilations[i] * (kernel[i] - 1) - 1) / stride + 1));
        }
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
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
