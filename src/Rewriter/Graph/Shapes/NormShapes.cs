using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>
/// Normalisations: output Y like X; saved statistics (Mean, InvStdDev) are float32 with the
/// normalised axes (axis..rank-1) kept as size 1, as ONNX Runtime's kernels produce them.
/// </summary>
internal static class NormShapes
{
    public static void LayerNorm(OnnxNode node, ShapeContext context) => SetNorm(node, context, firstStatOutput: 1, statCount: node.Outputs.Count - 1);

    /// <summary>SimplifiedLayerNormalization, MsLayerNorm and MsRmsNorm: Y then InvStdDev.</summary>
    public static void NormWithInvStd(OnnxNode node, ShapeContext context) => SetNorm(node, context, firstStatOutput: 1, statCount: 1);

    /// <summary>SkipLayerNormalization: output, mean, inv_std_var, input_skip_bias_sum.</summary>
    public static void SkipLayerNorm(OnnxNode node, ShapeContext context)
    {
        SetNorm(node, context, firstStatOutput: 1, statCount: 2);
        if (context.TypeOf(node.Input(0)) is { } x) context.SetType(node.Output(3), x);
    }

    private static void SetNorm(OnnxNode node, ShapeContext context, int firstStatOutput, int statCount)
    {
        TensorType? x = context.TypeOf(node.Input(0));
        if (x is null) return;
        context.SetType(node.Output(0), x);
        TensorShape? stats = null;
        if (x.Shape is { } shape)
        {
            int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", -1), shape.Rank);
            stats = new TensorShape(shape.Dims.Select((d, i) => i < axis ? d : Dim.Of(1)).ToArray());
        }
        int statType = (int)node.GetInt("stash_type", 1) == 1 ? ElementTypes.Float : x.ElementType;
        for (int i = firstStatOutput; i < firstStatOutput + statCount; i++)
        {
            context.SetType(node.Output(i), new TensorType(statType, stats));
        }
    }
}
