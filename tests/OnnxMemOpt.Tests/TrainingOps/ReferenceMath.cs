namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>Float64 forward functions the gradient tests differentiate numerically.</summary>
internal static class ReferenceMath
{
    /// <summary>erf to ~1e-15: Maclaurin series for |x| &lt; 2, the erfc continued fraction beyond
    /// (.NET has no Math.Erf). Checked against ONNX Runtime's own Gelu kernel in the tests.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax < 2)
        {
            double term = x;
            double sum = x;
            double x2 = x * x;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated backwards.
        double fraction = ax;
        for (int n = 80; n >= 1; n--)
        {
            fraction = ax + n / 2.0 / fraction;
        }
        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / fraction;
        return Math.Sign(x) * (1 - erfc);
    }

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    public static double FastGelu(double x) =>
        0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    public static double QuickGelu(double x, double alpha) => x * Sigmoid(alpha * x);
}
