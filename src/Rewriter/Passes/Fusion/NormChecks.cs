using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>Checks the LayerNorm and RMSNorm rules share: reduction axes, epsilon, parameter ranks, element types.</summary>
internal static class NormChecks
{
    /// <summary>
    /// The axes a ReduceMean reduces (attribute, or constant second input from opset 18), or null
    /// with the reason in <paramref name="reason"/>. Keepdims must be 1 for the chain to broadcast back.
    /// </summary>
    public static long[]? ReduceAxes(OnnxNode reduceMean, RewriteContext context, out string? reason)
    {
        reason = null;
        if (reduceMean.GetInt("keepdims", 1) != 1)
        {
            reason = $"{reduceMean.Label} drops the reduced axes (keepdims=0)";
            return null;
        }
        long[]? axes = null;
        if (reduceMean.GetInts("axes") is { Count: > 0 } attribute)
        {
            axes = [.. attribute];
        }
        else if (reduceMean.Input(1) is { } axesInput)
        {
            axes = context.Scope.ConstantValues(axesInput)?.Select(v => (long)v).ToArray();
            if (axes is null)
            {
                reason = $"{reduceMean.Label} takes its axes from a value that is not a constant";
                return null;
            }
        }
        if (axes is null || axes.Length == 0)
        {
            reason = $"{reduceMean.Label} reduces over every axis (no axes given)";
            return null;
        }
        return axes;
    }

    /// <summary>
    /// The first normalised axis, in the negative form LayerNormalization's axis takes, when
    /// <paramref name="axes"/> are the trailing axes of <paramref name="input"/>; else null and a reason.
    /// </summary>
    public static long? TrailingAxis(long[] axes, string input, RewriteContext context, out string? reason)
    {
        reason = null;
        int? rank = context.TypeOf(input)?.Shape?.Rank;
        var normalized = new long[axes.Length];
        for (int i = 0; i < axes.Length; i++)
        {
            if (axes[i] >= 0 && rank is null)
            {
                reason = $"axes [{string.Join(",", axes)}] are positive and the input's rank is unknown";
                return null;
            }
            normalized[i] = axes[i] >= 0 ? axes[i] - rank!.Value : axes[i];
        }
        Array.Sort(normalized);
        for (int i = 0; i < normalized.Length; i++)
        {
            if (normalized[i] != i - normalized.Length)
            {
                reason = $"axes [{string.Join(",", axes)}] are not the trailing axes";
                return null;
            }
        }
        return normalized[0];
    }

    /// <summary>Epsilon from a one-element constant, or null and a reason.</summary>
    public static float? Epsilon(string value, RewriteContext context, out string? reason)
    {
        reason = null;
        double[]? values = context.Scope.ConstantValues(value);
        if (values is not { Length: 1 } || values[0] < 0 || values[0] > 1e-1)
        {
            reason = $"the value added to the variance ('{value}') is not a small one-element constant";
            return null;
        }
        return (float)values[0];
    }

    /// <summary>A scale or bias must cover only the normalised axes (rank at most their count).</summary>
    public static string? ParameterRank(string value, int normalizedAxes, RewriteContext context, string what)
    {
        int? rank = context.TypeOf(value)?.Shape?.Rank;
        if (rank is { } r && r > normalizedAxes)
        {
            return $"the {what} '{value}' has rank {r}, more than the {normalizedAxes} normalised axes";
        }
        return null;
    }

    /// <summary>
    /// The 16-bit value <paramref name="input"/> was cast up from, when the chain's output is of
    /// that same 16-bit type (ONNX Runtime's layer_norm_with_cast_4 form: Cast(x16 → float),
    /// the norm in float32, Cast back to float16 before γ and β); else null.
    /// </summary>
    public static string? WidenedFrom(string input, string output, RewriteContext context)
    {
        if (context.Graph.Producer(input) is not { } cast || !cast.Is("Cast") || cast.Input(0) is not { } source) return null;
        int? from = context.TypeOf(source)?.ElementType, widened = context.TypeOf(input)?.ElementType, to = context.TypeOf(output)?.ElementType;
        return from is ElementTypes.Float16 or ElementTypes.BFloat16 && widened == ElementTypes.Float && to == from ? source : null;
    }

    /// <summary>Removes the node producing <paramref name="value"/> once nothing reads it.</summary>
    public static void RemoveIfUnread(RewriteContext context, string value)
    {
        if (context.Graph.Consumers(value).Count == 0 && !context.Graph.IsGraphOutput(value) && context.Graph.Producer(value) is { } producer)
        {
            context.Graph.RemoveNode(producer);
        }
    }

    /// <summary>Removing the chain's Casts must not change the output's element type.</summary>
    public static string? SameElementType(string input, string output, RewriteContext context)
    {
        int? from = context.TypeOf(input)?.ElementType;
        int? to = context.TypeOf(output)?.ElementType;
        if (from is { } f && to is { } t && f != t)
        {
            return $"the chain turns {ElementTypes.Name(f)} into {ElementTypes.Name(t)}; the fused op would not";
        }
        return null;
    }
}
