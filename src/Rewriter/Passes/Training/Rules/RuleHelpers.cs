using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Small building blocks several gradient rules share.</summary>
internal static class RuleHelpers
{
    /// <summary>Transpose that swaps the last two axes of a tensor of rank <paramref name="rank"/>.</summary>
    public static string SwapLastTwo(GradientContext c, string x, int rank)
    {
        long[] perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        (perm[rank - 1], perm[rank - 2]) = (perm[rank - 2], perm[rank - 1]);
        return c.Emit.Op("Transpose", [x], x + "_T", "", GraphEmitter.Ints("perm", perm));
    }

    /// <summary>Rank of a value the rule cannot do without.</summary>
    public static int RequireRank(GradientContext c, OnnxNode node, string value) =>
        c.RankOf(value) ?? throw new UnsupportedModelException(c.ModelFile, $"the rank of '{value}' is unknown, so the gradient of {node.OpType} cannot be built", node.Label);

    /// <summary>x · factor, with the factor a scalar constant of x's element type (x itself when factor is 1).</summary>
    public static string Scale(GradientContext c, string x, double factor, int elementType, string hint)
    {
        if (factor == 1.0) return x;
        return c.Emit.Op("Mul", [x, c.Emit.Scalar(factor, elementType)], hint);
    }

    /// <summary>Axis normalised to [0, rank).</summary>
    public static int NormalizeAxis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    /// <summary>Constant axes of a reduction/Squeeze/Unsqueeze node: the attribute (old opsets) or the constant input 1.</summary>
    public static long[]? AxesOf(GradientContext c, OnnxNode node, int inputIndex = 1) =>
        node.GetInts("axes")?.ToArray() ?? c.ConstantInts(node.Input(inputIndex));
}
