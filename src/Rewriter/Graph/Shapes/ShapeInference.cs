using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>
/// Infers the element type and shape of every value of a graph from its inputs, initializers and
/// value_info, with symbolic dimensions bound by <see cref="DimBindings"/>. Covers the ops of
/// transformer forward and training graphs (ONNX, com.microsoft training ops, com.onnxmemopt);
/// a value of an op without a rule keeps its declared value_info type or stays unknown.
/// </summary>
public static class ShapeInference
{
    private static readonly Dictionary<(string Domain, string Op), ShapeRule> Rules = BuildRules();

    /// <summary>
    /// Types of every value that declarations or rules reach, by name. Best effort: a node whose rule
    /// fails on malformed input leaves its outputs as declared or unknown, and an op without a rule is
    /// no error.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorType> Infer(OnnxGraph graph, DimBindings? bindings = null)
    {
        var context = new ShapeContext(graph, bindings ?? DimBindings.None);
        // Declared types first: rules refine them, and values no rule reaches keep them.
        foreach (ValueInfoProto info in graph.Proto.Input.Concat(graph.Proto.ValueInfo).Concat(graph.Proto.Output))
        {
            if (TensorType.FromProto(info.Type) is { } declared) context.SetType(info.Name, declared);
        }
        foreach (TensorProto initializer in graph.Proto.Initializer)
        {
            if (!graph.IsGraphInput(initializer.Name)) context.SetConstant(initializer.Name, initializer);
            else context.SetType(initializer.Name, TensorType.FromTensor(initializer));
        }
        foreach (OnnxNode node in graph.TopologicalOrder())
        {
            if (RuleFor(node) is { } rule)
            {
                try
                {
                    rule(node, context);
                }
                catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException or InvalidOperationException or ModelException)
                {
                    // Shape inference is best effort: a node whose attributes or input ranks make
                    // no sense (a malformed or hostile model) leaves its outputs unknown, and any
                    // pass that needs those sizes reports them as unknown instead of crashing.
                }
            }
        }
        return context.Types;
    }

    /// <summary>True when shape inference has a rule for the node's op.</summary>
    public static bool HasRule(OnnxNode node) => RuleFor(node) is not null;

    private static ShapeRule? RuleFor(OnnxNode node) =>
        Rules.GetValueOrDefault((node.Domain, node.OpType)) ?? Rules.GetValueOrDefault(("*", node.OpType));

    private static Dictionary<(string, string), ShapeRule> BuildRules()
    {
        var rules = new Dictionary<(string, string), ShapeRule>();
        // "*": the op name means the same in ONNX and in com.microsoft (e.g. Gelu, LayerNormalization).
        void Any(string op, ShapeRule rule) => rules[("*", op)] = rule;
        void Ms(string op, ShapeRule rule) => rules[("com.microsoft", op)] = rule;
        void Ours(string op, ShapeRule rule) => rules[("com.onnxmemopt", op)] = rule;

        foreach (string op in ElementwiseShapes.Unary) Any(op, ElementwiseShapes.SameAsFirstInput);
        foreach (string op in ElementwiseShapes.Binary) Any(op, ElementwiseShapes.Broadcasting);
        foreach (string op in ElementwiseShapes.Comparisons) Any(op, ElementwiseShapes.Comparison);
        foreach (string op in ReductionShapes.Reductions) Any(op, ReductionShapes.Reduce);
        Any("Where", ElementwiseShapes.Where);
        Any("Cast", ElementwiseShapes.Cast);
        Any("CastLike", ElementwiseShapes.CastLike);
        Any("Dropout", ElementwiseShapes.Dropout);
        Any("BitmaskDropout", ElementwiseShapes.Dropout);
        Any("ArgMax", ReductionShapes.ArgReduce);
        Any("ArgMin", ReductionShapes.ArgReduce);
        Any("MatMul", LinearAlgebraShapes.MatMul);
        Any("FusedMatMul", LinearAlgebraShapes.FusedMatMul);
        Any("Gemm", LinearAlgebraShapes.Gemm);
        // Gemm with an activation fused in by ONNX Runtime (Gemm + Tanh/Relu/...): the same output.
        Ms("FusedGemm", LinearAlgebraShapes.Gemm);
        Any("Shape", LayoutShapes.Shape);
        Any("Size", LayoutShapes.Size);
        Any("Constant", LayoutShapes.Constant);
        Any("ConstantOfShape", LayoutShapes.ConstantOfShape);
        Any("Reshape", LayoutShapes.Reshape);
        Any("Flatten", LayoutShapes.Flatten);
        Any("Transpose", LayoutShapes.Transpose);
        Any("Unsqueeze", LayoutShapes.Unsqueeze);
        Any("Squeeze", LayoutShapes.Squeeze);
        Any("Concat", LayoutShapes.Concat);
        Any("Split", LayoutShapes.Split);
        Any("Slice", LayoutShapes.Slice);
        Any("Gather", LayoutShapes.Gather);
        Any("Expand", LayoutShapes.Expand);
        Any("Tile", LayoutShapes.Tile);
        Any("Range", LayoutShapes.Range);
        Any("LayerNormalization", NormShapes.LayerNorm);
        Any("SimplifiedLayerNormalization", NormShapes.NormWithInvStd);
        Any("RMSNormalization", NormShapes.NormWithInvStd);
        Any("SkipLayerNormalization", NormShapes.SkipLayerNorm);
        Any("SkipSimplifiedLayerNormalization", NormShapes.SkipLayerNorm);

        // ONNX Runtime training vocabulary.
        foreach (string op in new[] { "GeluGrad", "FastGeluGrad", "BiasGeluGrad_dX", "BiasFastGeluGrad_dX", "QuickGeluGrad", "ReluGrad" })
        {
            Ms(op, TrainingShapes.GradientLike(1));
        }
        // DropoutGrad(dY, mask, ratio, training_mode): input 1 is the bool (or bitmask) mask, so dX is like dY.
        foreach (string op in new[] { "DropoutGrad", "BitmaskDropoutGrad" })
        {
            Ms(op, TrainingShapes.GradientLike(0));
        }
        foreach (string op in new[] { "SigmoidGrad", "SoftmaxGrad", "SoftmaxGrad_13", "LogSoftmaxGrad", "LogSoftmaxGrad_13", "TanhGrad", "SqrtGrad" })
        {
            Ms(op, TrainingShapes.GradientLike(1));
        }
        Ms("Scale", ElementwiseShapes.SameAsFirstInput);
        Ms("LayerNormalizationGrad", TrainingShapes.LayerNormGrad);
        Ms("SimplifiedLayerNormalizationGrad", TrainingShapes.LayerNormGrad);
        Ms("InvertibleLayerNormalizationGrad", TrainingShapes.InvertibleLayerNormGrad);
        Ms("InPlaceAccumulatorV2", TrainingShapes.InPlaceAccumulator);
        Ms("SoftmaxCrossEntropyLossInternal", TrainingShapes.CrossEntropy);
        Any("SoftmaxCrossEntropyLoss", TrainingShapes.CrossEntropy);
        Ms("SoftmaxCrossEntropyLossGrad", TrainingShapes.CrossEntropyGrad);
        Ms("SoftmaxCrossEntropyLossInternalGrad", TrainingShapes.CrossEntropyGrad);
        Ms("BroadcastGradientArgs", TrainingShapes.BroadcastGradientArgs);
        Ms("SliceGrad", (n, c) => TrainingShapes.ShapeFromInput(n, c, shapeInput: 1, typeInput: 0));
        Ms("GatherGrad", (n, c) => TrainingShapes.ShapeFromInput(n, c, shapeInput: 0, typeInput: 2));
        Ms("ConcatTraining", TrainingShapes.ConcatTraining);

        // The paper's ops (PRODUCT.md "New ops").
        Ours("ReGelu2", TrainingShapes.TwoBitActivation);
        Ours("ReSilu2", TrainingShapes.TwoBitActivation);
        Ours("ReGelu2Grad", TrainingShapes.GradientLike(0));
        Ours("ReSilu2Grad", TrainingShapes.GradientLike(0));
        Ours("MsLayerNorm", NormShapes.NormWithInvStd);
        Ours("MsRmsNorm", NormShapes.NormWithInvStd);
        Ours("MsLayerNormGrad", TrainingShapes.GradientLike(1));
        Ours("MsRmsNormGrad", TrainingShapes.GradientLike(1));
        return rules;
    }
}
