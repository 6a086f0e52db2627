namespace OnnxMemOpt.Runtime.Verification;

/// <summary>Which side of a comparison is all zeros, when one is: then no cosine exists.</summary>
public enum GradientZeros
{
    /// <summary>Both have a nonzero element: the cosine is defined.</summary>
    Neither,

    /// <summary>
    /// Both exactly zero, e.g. a LoRA A gradient while B is still zero (dA = Bᵀ·(…) = 0): they agree,
    /// but that says nothing about how well the rewrite's gradient follows the original's.
    /// </summary>
    Both,

    /// <summary>Only the original's gradient is all zeros: the rewrite produces a gradient where there was none.</summary>
    ReferenceOnly,

    /// <summary>Only the rewrite's gradient is all zeros: it lost a gradient the original has.</summary>
    CandidateOnly,
}

/// <summary>How a candidate gradient agrees with a reference: cosine (null when either is all zeros) and ‖b − a‖/‖a‖.</summary>
public sealed record GradientAgreement(double? Cosine, double RelativeError, GradientZeros Zeros)
{
    /// <summary>What a report writes instead of a cosine when there is none.</summary>
    public string? ZeroNote => Zeros switch
    {
        GradientZeros.Both => "zero in both",
        GradientZeros.ReferenceOnly => "zero in the original only",
        GradientZeros.CandidateOnly => "zero in the rewrite only",
        _ => null,
    };

    /// <param name="reference">The original's gradient.</param>
    /// <param name="candidate">The rewrite's gradient.</param>
    /// <param name="floor">The smallest norm the relative error divides by (see <see cref="GradientComparison.NegligibleShare"/>).</param>
    public static GradientAgreement Of(ReadOnlySpan<double> reference, ReadOnlySpan<double> candidate, double floor = 0)
    {
        if (reference.Length != candidate.Length) throw new ArgumentException($"sizes differ: {reference.Length} and {candidate.Length}");
        double dot = 0, na = 0, nb = 0, diff = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            dot += reference[i] * candidate[i];
            na += reference[i] * reference[i];
            nb += candidate[i] * candidate[i];
            diff += (candidate[i] - reference[i]) * (candidate[i] - reference[i]);
        }
        GradientZeros zeros = (na == 0, nb == 0) switch
        {
            (true, true) => GradientZeros.Both,
            (true, false) => GradientZeros.ReferenceOnly,
            (false, true) => GradientZeros.CandidateOnly,
            _ => GradientZeros.Neither,
        };
        double? cosine = zeros == GradientZeros.Neither ? dot / Math.Sqrt(na * nb) : null;
        double norm = Math.Max(Math.Sqrt(na), floor);
        double relative = norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff) / norm;
        return new GradientAgreement(cosine, relative, zeros);
    }
}

/// <summary>The figures `verify` reports for two gradients: cosine similarity and relative error.</summary>
public static class GradientComparison
{
    /// <summary>Cosine similarity; NaN when either side is all zeros (see <see cref="GradientAgreement"/>).</summary>
    public static double Cosine(double[] a, double[] b) => GradientAgreement.Of(a, b).Cosine ?? double.NaN;

    /// <summary>
    /// Below this share of the largest gradient's norm a gradient is zero at float32 precision: a
    /// key bias under softmax (adding a constant to a row of scores changes nothing, so its exact
    /// gradient is 0) comes out as rounding residue of terms the size of the other gradients, and
    /// its error relative to its own norm measures nothing. The same floor as gradcheck's.
    /// </summary>
    public const double NegligibleShare = 1e-4;

    /// <summary>‖candidate − reference‖ / max(‖reference‖, floor) (the plain norm of the difference when both are zero).</summary>
    public static double RelativeError(double[] reference, double[] candidate, double floor = 0) => GradientAgreement.Of(reference, candidate, floor).RelativeError;

    /// <summary>The Euclidean norm.</summary>
    public static double Norm(double[] values) => Math.Sqrt(values.Sum(v => v * v));
}
