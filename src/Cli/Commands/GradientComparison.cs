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

    /// <summary>‖candidate − reference‖ / ‖reference‖.</summary>
    public static double RelativeError(double[] reference, double[] candidate)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            diff += (candidate[i] - reference[i]) * (candidate[i] - reference[i]);
            norm += reference[i] * reference[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }
}
