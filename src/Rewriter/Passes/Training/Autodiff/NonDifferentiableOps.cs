namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// Ops through which no gradient flows: shape arithmetic, comparisons, index producers, and
/// piecewise-constant functions (their derivative is zero almost everywhere). Their outputs never
/// need a gradient even when an input does, which is what stops the backward pass from walking
/// into the Shape/ConstantOfShape/Range/Equal/Trilu-mask subgraphs exporters write.
/// </summary>
public static class NonDifferentiableOps
{
    private static readonly HashSet<string> Ops = new(StringComparer.Ordinal)
    {
        "Shape", "Size", "ConstantOfShape", "Range", "NonZero", "OneHot", "EyeLike",
        "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf",
        "ArgMax", "ArgMin", "TopK_indices", "Floor", "Ceil", "Round", "Sign", "RandomNormalLike", "RandomUniformLike",
        "BroadcastGradientArgs", "Bernoulli", "Multinomial",
    };

    /// <summary>True when no gradient flows through <paramref name="opType"/>, whatever its domain.</summary>
    public static bool Contains(string opType) => Ops.Contains(opType);
}
