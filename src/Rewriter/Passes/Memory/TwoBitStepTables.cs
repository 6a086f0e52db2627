using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// The ReGELU2 / ReSiLU2 step derivatives as published (METHOD.md, Yang et al. ICML 2024): three
/// thresholds c₀ &lt; c₁ &lt; c₂ give code(x) = [x &gt; c₀] + [x &gt; c₁] + [x &gt; c₂], and the backward
/// multiplies dY by level[code]. The native kernels carry the same digits (two_bit_tables.h); this
/// copy lets the managed side build an independent reference of what the kernels should compute.
/// </summary>
/// <param name="Thresholds">
/// c₀ &lt; c₁ &lt; c₂; in units of x, except the published SiLU table's, which are in units of αx.
/// </param>
/// <param name="Levels">The derivative for codes 0 to 3.</param>
public sealed record TwoBitStepTable(double[] Thresholds, double[] Levels)
{
    /// <summary>
    /// The paper's GELU table ("yang2024", the ops' default): thresholds and levels from three shifted
    /// ReLUs fitted to GELU.
    /// </summary>
    public static TwoBitStepTable Gelu { get; } = new(
        [-3.1858810036855245, -0.001178821281161997, 3.190832613414926],
        [0.0, -0.04922261145617846, 1.0487405950855513, 1.0]);

    /// <summary>
    /// Few-Bit Backward's 2-bit GELU derivative (METHOD.md, related work): borders ±0.4536 and 0,
    /// levels fitted to GELU′ itself rather than to GELU, so the step follows the derivative closely
    /// (per-element correlation with GELU′ 0.99 under a unit normal input, against 0.95 for
    /// <see cref="Gelu"/>). Same code, same memory.
    /// </summary>
    public static TwoBitStepTable GeluFewBit { get; } = new([-0.4536, 0.0, 0.4536], [-0.0015, 0.3251, 0.6749, 1.0015]);

    /// <summary>The GELU table a ReGelu2/ReGelu2Grad <c>table</c> attribute names.</summary>
    public static TwoBitStepTable ForGelu(string name) => name switch
    {
        Patterns.GeluTables.Yang2024 => Gelu,
        Patterns.GeluTables.FewBit => GeluFewBit,
        _ => throw new ArgumentException($"unknown GELU table '{name}'", nameof(name)),
    };

    /// <summary>For x·σ(αx) the thresholds are cᵢ/α with these levels (the derivative is SiLU′(αx)).</summary>
    public static TwoBitStepTable Silu { get; } = new(
        [-6.3050461001646445, -0.0008684942046214787, 6.325815242089708],
        [0.0, -0.04060357190528599, 1.0403218566243821, 1.0]);

    /// <summary>
    /// A table fitted to one layer's inputs (<c>table = "calibrated"</c>): thresholds in units of x
    /// (for SiLU too: no division by α) and levels, both as the float attributes the ops carry.
    /// </summary>
    public static TwoBitStepTable Calibrated(float[] thresholds, float[] levels)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(levels);
        if (thresholds.Length != 3 || levels.Length != 4) throw new ArgumentException("a 2-bit table has 3 thresholds and 4 levels");
        if (!(thresholds[0] < thresholds[1] && thresholds[1] < thresholds[2])) throw new ArgumentException($"thresholds must increase strictly: {string.Join(", ", thresholds)}");
        if (thresholds.Concat(levels).Any(v => !float.IsFinite(v))) throw new ArgumentException("thresholds and levels must be finite");
        return new TwoBitStepTable(thresholds.Select(t => (double)t).ToArray(), levels.Select(l => (double)l).ToArray());
    }

    /// <summary>
    /// The table a ReGelu2/ReGelu2Grad/ReSilu2/ReSilu2Grad node computes with, with its thresholds
    /// in units of x (the published SiLU table's divided by the node's α), as the kernels read it
    /// (two_bit_table_attributes.h).
    /// </summary>
    public static TwoBitStepTable ForNode(OnnxNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        bool gelu = node.OpType.StartsWith("ReGelu2", StringComparison.Ordinal);
        string name = node.GetString("table", GeluTables.Yang2024);
        if (name == StepTableAttributes.Calibrated)
        {
            return Calibrated(node.GetFloats(StepTableAttributes.Thresholds)?.ToArray() ?? [], node.GetFloats(StepTableAttributes.Levels)?.ToArray() ?? []);
        }
        if (gelu) return ForGelu(name);
        if (name != GeluTables.Yang2024) throw new ArgumentException($"unknown SiLU table '{name}' on {node.Label}");
        double alpha = node.GetFloat("alpha", 1.0f);
        return new TwoBitStepTable(Silu.Thresholds.Select(c => c / alpha).ToArray(), Silu.Levels);
    }

    /// <summary>code(x) = [x &gt; c₀] + [x &gt; c₁] + [x &gt; c₂], compared in double; NaN gives 0.</summary>
    public int CodeOf(double x) => (x > Thresholds[0] ? 1 : 0) + (x > Thresholds[1] ? 1 : 0) + (x > Thresholds[2] ? 1 : 0);

    /// <summary>
    /// Threshold i divided by <paramref name="alpha"/> as the float the kernels compare against:
    /// the largest float not above it, so that x &gt; t in float equals x &gt; c in exact arithmetic.
    /// </summary>
    public float FloatThreshold(int i, double alpha = 1.0)
    {
        double c = Thresholds[i] / alpha;
        float t = (float)c;
        return t > c ? MathF.BitDecrement(t) : t;
    }
}
