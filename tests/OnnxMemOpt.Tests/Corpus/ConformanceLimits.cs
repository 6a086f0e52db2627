namespace OnnxMemOpt.Tests.Corpus;

/// <summary>
/// What every exported model must pass (issue 13's acceptance): every command exits 0 and every
/// written model loads; verify's forward outputs within 1e-5; gradients within 1e-4 of the
/// original's where the rewrite is exact, within 1e-3 of the method's reference (the original
/// graph with the 2-bit step derivatives in standard ops) where ReGELU2/ReSiLU2 make it
/// approximate by design; a model with a GELU or SiLU gets regelu2/resilu2, one whose norms are
/// frozen gets msln/msrms (or, in the mixed-precision forms, is refused because a Cast sits between
/// the norm and the layers that keep its output), and a trainable norm is refused with the reason
/// unless --fold-trainable-affine asks for it.
/// </summary>
public static class ConformanceLimits
{
    public const double Forward = 1e-5;
    public const double ExactGradient = 1e-4;
    public const double MethodGradient = 1e-3;
    public const double Gradcheck = 1e-4;

    /// <summary>Every violated limit of one row, in words (empty: the row is green).</summary>
    public static IReadOnlyList<string> Violations(ConformanceRow row)
    {
        var failures = new List<string>();
        foreach (CommandOutcome command in row.Commands.Where(c => c.ExitCode != 0))
        {
            failures.Add($"{command.Step}: exit {command.ExitCode}: {command.Stderr}");
        }
        foreach (TrainableSetRow set in row.Sets)
        {
            if (!(set.ForwardMaxRelDiff <= Forward)) failures.Add($"{set.Set}: forward difference {set.ForwardMaxRelDiff?.ToString() ?? "missing"} > {Forward}");
            if (set.ExactGradientMaxRelErr is { } exact && !(exact <= ExactGradient)) failures.Add($"{set.Set}: gradient error {exact} > {ExactGradient}");
            if (set.MethodGradientMaxRelErr is { } method && !(method <= MethodGradient)) failures.Add($"{set.Set}: error against the method's reference {method} > {MethodGradient}");
            if (set.GradcheckMaxRelErr is { } check && !(check <= Gradcheck)) failures.Add($"{set.Set}: gradcheck {check} > {Gradcheck}");
            if (row.HasGeluOrSilu && !row.HasQuickGeluOrSilu && !set.Passes.Contains("regelu2")) failures.Add($"{set.Set}: the GELU got no regelu2 ({string.Join("; ", set.Skipped)})");
            if (row.HasQuickGeluOrSilu && !set.Passes.Contains("resilu2")) failures.Add($"{set.Set}: the SiLU got no resilu2 ({string.Join("; ", set.Skipped)})");
            bool frozenNorms = set.Set.StartsWith("lora", StringComparison.Ordinal) || set.Set.Contains("--fold-trainable-affine", StringComparison.Ordinal);
            string normPass = row.HasRmsNorm ? "msrms" : "msln";
            // The fp16 forms keep a Cast between each norm and its linear layers (what AMP exports
            // carry): the layers keep the cast copy, so MS-LN has nothing to share; refused by name.
            bool castBetween = set.Skipped.Any(s => s.StartsWith(normPass, StringComparison.Ordinal) && s.Contains("(mixed precision)", StringComparison.Ordinal));
            if ((row.HasNorm || row.HasRmsNorm) && frozenNorms && !set.Passes.Contains(normPass) && !castBetween)
            {
                failures.Add($"{set.Set}: no {normPass} ({string.Join("; ", set.Skipped.Where(s => s.StartsWith("ms", StringComparison.Ordinal)))})");
            }
            if ((row.HasNorm || row.HasRmsNorm) && !frozenNorms && !set.Skipped.Any(s => s.StartsWith(normPass, StringComparison.Ordinal) && s.Contains("trainable", StringComparison.Ordinal)))
            {
                failures.Add($"{set.Set}: the trainable norms were neither rewritten nor refused as trainable");
            }
        }
        return failures;
    }
}
