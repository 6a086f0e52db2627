using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// Sums a gradient over the axes along which an input was broadcast, so that it takes the input's
/// shape again. When both shapes are known well enough the axes are constants (leading axes the
/// input lacks, and axes where the input has size 1); otherwise it does what ONNX Runtime's
/// gradient builder does: Shape + BroadcastGradientArgs + ReduceSum(keepdims) + Reshape.
/// </summary>
public sealed class BroadcastReducer(GradientContext context)
{
    /// <summary>
    /// Reduces <paramref name="gradient"/>, shaped like the forward value <paramref name="broadcastValue"/>
    /// (an elementwise op's output), to the shape of <paramref name="input"/>.
    /// </summary>
    public string ToShapeOf(string gradient, string input, string broadcastValue) =>
        ToShapeOf(gradient, input, context.ShapeOf(broadcastValue));

    /// <summary>Reduces <paramref name="gradient"/>, whose shape is <paramref name="gradientShape"/> (null: unknown), to the shape of <paramref name="input"/>.</summary>
    public string ToShapeOf(string gradient, string input, TensorShape? gradientShape)
    {
        TensorShape? inShape = context.ShapeOf(input);
        if (inShape is not null && gradientShape is not null && StaticAxes(inShape, gradientShape) is var (leading, inner))
        {
            return ReduceStatic(gradient, input, leading, inner);
        }
        return ReduceDynamic(gradient, input);
    }

    /// <summary>
    /// The leading axes to drop and the inner axes (numbered in the input's rank) to sum with
    /// keepdims, or null when a dim is symbolic in a way that leaves open whether it broadcast.
    /// </summary>
    private static (int Leading, List<long> Inner)? StaticAxes(TensorShape inShape, TensorShape outShape)
    {
        int leading = outShape.Rank - inShape.Rank;
        if (leading < 0) return null;
        var inner = new List<long>();
        for (int i = 0; i < inShape.Rank; i++)
        {
            Dim d = inShape.Dims[i];
            Dim o = outShape.Dims[leading + i];
            if (d.Value == 1)
            {
                // Summing an axis the output also has at size 1 is a no-op, so this is safe even
                // when the output's dim is symbolic.
                if (o.Value != 1) inner.Add(i);
            }
            else if (d.IsKnown || (d.Symbol is not null && d.Symbol == o.Symbol))
            {
                // A known dim other than 1 must equal the output's; a shared symbol is the same size.
            }
            else if (o.Value == 1)
            {
                // The output has size 1 there, so the input does too: nothing to sum.
            }
            else
            {
                return null;
            }
        }
        return (leading, inner);
    }

    private string ReduceStatic(string gradient, string input, int leading, List<long> inner)
    {
        string result = gradient;
        string hint = GradientContext.GradName(input);
        if (leading > 0)
        {
            result = context.Emit.ReduceSum(result, Enumerable.Range(0, leading).Select(a => (long)a).ToArray(), keepDims: false, hint);
        }
        if (inner.Count > 0)
        {
            result = context.Emit.ReduceSum(result, inner, keepDims: true, hint);
        }
        return result;
    }

    private string ReduceDynamic(string gradient, string input)
    {
        GraphEmitter emit = context.Emit;
        string inputShape = emit.Shape(input);
        string outputShape = emit.Shape(gradient);
        string[] axes = emit.OpMulti("BroadcastGradientArgs", [inputShape, outputShape], [input + "_reduce_axes", null], GraphEmitter.MicrosoftDomain);
        string summed = emit.ReduceSumDynamic(gradient, axes[0], GradientContext.GradName(input) + "_sum");
        return emit.Op("Reshape", [summed, inputShape], GradientContext.GradName(input));
    }
}
