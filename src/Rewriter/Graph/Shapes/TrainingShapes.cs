using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>
/// ONNX Runtime's training ops and the project's own ops. Most gradients have the shape of the
/// forward input they differentiate; the rest are listed with their schema's outputs.
/// </summary>
internal static class TrainingShapes
{
    /// <summary>Grad(dY, X, ...) → dX shaped like input <paramref name="like"/>.</summary>
    public static ShapeRule GradientLike(int like) => (node, context) =>
    {
        if (context.TypeOf(node.Input(like)) is { } type) context.SetType(node.Output(0), type);
    };

    /// <summary>LayerNormalizationGrad: X_grad like X, scale_grad and bias_grad like scale.</summary>
    public static void LayerNormGrad(OnnxNode node, ShapeContext context)
    {
        if (context.TypeOf(node.Input(1)) is { } x) context.SetType(node.Output(0), x);
        if (context.TypeOf(node.Input(2)) is { } scale)
        {
            for (int i = 1; i < node.Outputs.Count; i++) context.SetType(node.Output(i), scale);
        }
    }

    public static void InvertibleLayerNormGrad(OnnxNode node, ShapeContext context)
    {
        if (context.TypeOf(node.Input(1)) is { } y) context.SetType(node.Output(0), y);
        if (context.TypeOf(node.Input(2)) is { } scale)
        {
            for (int i = 1; i < node.Outputs.Count; i++) context.SetType(node.Output(i), scale);
        }
    }

    /// <summary>InPlaceAccumulatorV2(buffer, value, overwrite?) → updated_flag bool[1], buffer_out like buffer.</summary>
    public static void InPlaceAccumulator(OnnxNode node, ShapeContext context)
    {
        context.SetType(node.Output(0), new TensorType(ElementTypes.Bool, TensorShape.Of(1)));
        if (context.TypeOf(node.Input(0)) is { } buffer) context.SetType(node.Output(1), buffer);
    }

    /// <summary>SoftmaxCrossEntropyLoss(Internal): loss (scalar unless reduction none), log_prob like the logits.</summary>
    public static void CrossEntropy(OnnxNode node, ShapeContext context)
    {
        TensorType? logits = context.TypeOf(node.Input(0));
        if (logits is null) return;
        string reduction = node.GetString("reduction", "mean");
        TensorShape? lossShape = reduction == "none" && logits.Shape is { Rank: >= 1 } s
            ? new TensorShape(s.Dims.Where((_, i) => i != 1).ToArray())
            : TensorShape.Scalar;
        context.SetType(node.Output(0), logits with { Shape = lossShape });
        context.SetType(node.Output(1), logits);
    }

    /// <summary>SoftmaxCrossEntropyLoss(Internal)Grad(dY, log_prob, label, ...) → d_logits like log_prob.</summary>
    public static void CrossEntropyGrad(OnnxNode node, ShapeContext context) => GradientLike(1)(node, context);

    /// <summary>ReGelu2/ReSilu2: Y like X, Code uint8 with ⌈N/4⌉ elements.</summary>
    public static void TwoBitActivation(OnnxNode node, ShapeContext context)
    {
        TensorType? x = context.TypeOf(node.Input(0));
        if (x is null) return;
        context.SetType(node.Output(0), x);
        Dim codeLength = x.Shape?.ElementCount is { } n ? Dim.Of((n + 3) / 4) : Dim.Unknown;
        context.SetType(node.Output(1), new TensorType(ElementTypes.UInt8, new TensorShape([codeLength])));
    }

    /// <summary>BroadcastGradientArgs(a_shape, b_shape) → 1-D int64 axes to reduce for each input.</summary>
    public static void BroadcastGradientArgs(OnnxNode node, ShapeContext context)
    {
        for (int i = 0; i < node.Outputs.Count; i++)
        {
            context.SetType(node.Output(i), new TensorType(ElementTypes.Int64, new TensorShape([Dim.Unknown])));
        }
    }

    /// <summary>SliceGrad(dY, shape, ...) and GatherGrad(shape, indices, dY) → dX of the given shape, dY's type.</summary>
    public static void ShapeFromInput(OnnxNode node, ShapeContext context, int shapeInput, int typeInput)
    {
        Dim[]? dims = context.ValuesOf(node.Input(shapeInput));
        context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(typeInput)), dims is null ? null : new TensorShape(dims)));
    }

    /// <summary>ConcatTraining: Concat's output plus the per-input lengths along the axis.</summary>
    public static void ConcatTraining(OnnxNode node, ShapeContext context)
    {
        LayoutShapes.Concat(node, context);
        context.SetType(node.Output(1), new TensorType(ElementTypes.Int64, TensorShape.Of(node.Inputs.Count(i => i.Length > 0))));
    }
}
