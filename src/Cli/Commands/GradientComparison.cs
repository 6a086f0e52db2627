namespace OnnxMemOpt.Cli.Commands;

/// <summary>The figures `verify` reports: cosine similarity and relative error of two gradients.</summary>
internal static class GradientComparison
{
    public static double Cosine(double[] a, double[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 && nb == 0 ? 1.0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>
    /// Below this share of the largest gradient's norm a gradient is zero at float32 precision: a
    /// key bias under softmax (adding a constant to a row of scores changes nothing, so its exact
    /// gradient is 0) comes out as rounding residue of terms the size of the other gradients, and
    /// its error relative to its own norm measures nothing. The same floor as gradcheck's.
    /// </summary>
    public const double NegligibleShare = 1e-4;

    /// <summary>‖candidate − reference‖ / max(‖reference‖, floor).</summary>
    public static double RelativeError(double[] reference, double[] candidate, double floor = 0)
    {
        double diff = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            diff += (candidate[i] - reference[i]) * (candidate[i] - reference[i]);
        }
        double norm = Math.Max(Norm(reference), floor);
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff) / norm;
    }

    public static double Norm(double[] values) => Math.Sqrt(values.Sum(v => v * v));
}
