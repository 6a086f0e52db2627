using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Passes.Memory.Calibration;

/// <summary>
/// One 2-bit activation of a rewritten graph: the forward op (ReGelu2 or ReSilu2), whose input 0 is
/// the activation's input x, and the gradient op(s) reading its code.
/// </summary>
/// <param name="Forward">The ReGelu2 or ReSilu2 node.</param>
/// <param name="Gradients">
/// The ReGelu2Grad/ReSilu2Grad nodes that read its code; they must carry the same table.
/// </param>
/// <param name="Kind">GELU or SiLU.</param>
/// <param name="Alpha">The α of x·σ(αx) for SiLU (the node's alpha, 1 by default); 1 for GELU.</param>
public sealed record TwoBitPair(OnnxNode Forward, IReadOnlyList<OnnxNode> Gradients, TwoBitActivationKind Kind, double Alpha)
{
    /// <summary>The activation's input, as the forward op reads it (the bias already added).</summary>
    public string Input => Forward.Inputs[0];

    /// <summary>The exact derivative the pair's table stands in for.</summary>
    public double Derivative(double x) => ActivationDerivatives.Of(Kind, x, Alpha);

    /// <summary>Every ReGelu2/ReSilu2 of <paramref name="graph"/> with the gradients that read its code output.</summary>
    public static IReadOnlyList<TwoBitPair> In(OnnxGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var pairs = new List<TwoBitPair>();
        foreach (OnnxNode node in graph.Nodes)
        {
            bool gelu = node.Is("ReGelu2", MemoryRuleSupport.Domain);
            if (!gelu && !node.Is("ReSilu2", MemoryRuleSupport.Domain)) continue;
            if (node.Input(0) is null || node.Output(1) is not { } code) continue;
            string gradientOp = gelu ? "ReGelu2Grad" : "ReSilu2Grad";
            var gradients = graph.Consumers(code).Where(c => c.Is(gradientOp, MemoryRuleSupport.Domain) && c.Input(1) == code).ToList();
            pairs.Add(new TwoBitPair(node, gradients, gelu ? TwoBitActivationKind.Gelu : TwoBitActivationKind.Silu, gelu ? 1.0 : node.GetFloat("alpha", 1.0f)));
        }
        return pairs;
    }
}

/// <summary>The attributes a calibrated table travels in (two_bit_table_attributes.h reads them).</summary>
public static class StepTableAttributes
{
    /// <summary>
    /// Name of the attribute that names the table ("yang2024", "few-bit", or <see cref="Calibrated"/>).
    /// </summary>
    public const string Table = "table";
    /// <summary>
    /// The <see cref="Table"/> value saying the numbers are in <see cref="Thresholds"/> and
    /// <see cref="Levels"/>.
    /// </summary>
    public const string Calibrated = Patterns.GeluTables.Calibrated;
    /// <summary>Name of the float-list attribute holding the three thresholds, in units of x.</summary>
    public const string Thresholds = "thresholds";
    /// <summary>Name of the float-list attribute holding the four levels, code 0 to 3.</summary>
    public const string Levels = "levels";

    /// <summary>Writes <paramref name="table"/> onto the pair's forward and gradient ops alike (both must carry the same table).</summary>
    public static void Write(TwoBitPair pair, TwoBitStepTable table)
    {
        ArgumentNullException.ThrowIfNull(pair);
        ArgumentNullException.ThrowIfNull(table);
        foreach (OnnxNode node in pair.Gradients.Prepend(pair.Forward))
        {
            node.SetAttribute(Table, Calibrated);
            node.SetAttribute(Thresholds, table.Thresholds.Select(t => (float)t));
            node.SetAttribute(Levels, table.Levels.Select(l => (float)l));
        }
    }
}
