namespace OnnxMemOpt.Passes.Memory.Calibration;

/// <summary>
/// The exact derivatives the 2-bit step tables stand in for, in float64: GELU′(x) = Φ(x) + x·φ(x)
/// (erf form) and, for x·σ(αx), σ(αx)·(1 + αx·(1 − σ(αx))). The calibration fits its tables to
/// them and verify compares the kernels' dX with dY times them.
/// </summary>
public static class ActivationDerivatives
{
    private static readonly double InverseSqrt2Pi = 1.0 / Math.Sqrt(2.0 * Math.PI);

    /// <summary>GELU′(x) = Φ(x) + x·φ(x) of exact (erf) GELU; NaN for NaN.</summary>
    public static double Gelu(double x) => double.IsNaN(x) ? double.NaN : NormalCdf(x) + x * InverseSqrt2Pi * Math.Exp(-0.5 * x * x);

    /// <summary>The derivative of x·σ(αx): σ(αx)·(1 + αx·(1 − σ(αx))); α = 1 is SiLU′, 1.702 QuickGelu's.</summary>
    public static double Silu(double x, double alpha)
    {
        double s = 1.0 / (1.0 + Math.Exp(-alpha * x));
        return s * (1.0 + alpha * x * (1.0 - s));
    }

    /// <summary>The derivative of the activation a ReGelu2 (<paramref name="alpha"/> null) or ReSilu2 node computes.</summary>
    public static double Of(TwoBitActivationKind kind, double x, double alpha) =>
        kind == TwoBitActivationKind.Gelu ? Gelu(x) : Silu(x, alpha);

    /// <summary>Φ(x) = erfc(−x/√2)/2, to about 1e-14 relative.</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2.0));

    private static double Erfc(double t)
    {
        if (t < 0) return 2.0 - Erfc(-t);
        if (t < 2.0) return 1.0 - ErfSeries(t);  // erfc(2) ≈ 4.7e-3: two digits lost at most
        if (t > 27.0) return 0.0;                // below the smallest double
        // erfc(t) = e^{−t²}/√π / (t + (1/2)/(t + 1/(t + (3/2)/(t + …)))), summed from the tail;
        // 100 terms are far past convergence for t ≥ 2.
        double fraction = t;
        for (int n = 100; n >= 1; n--) fraction = t + (n / 2.0) / fraction;
        return Math.Exp(-t * t) / Math.Sqrt(Math.PI) / fraction;
    }

    /// <summary>erf(t) = 2/√π·e^{−t²}·Σ 2ⁿt^{2n+1}/(1·3·…·(2n+1)): positive terms only, so no cancellation.</summary>
    private static double ErfSeries(double t)
    {
        double term = t, sum = t;
        for (int n = 1; n < 200 && term > sum * 1e-17; n++)
        {
            term *= 2.0 * t * t / (2 * n + 1);
            sum += term;
        }
        return 2.0 / Math.Sqrt(Math.PI) * Math.Exp(-t * t) * sum;
    }
}

/// <summary>Which activation a 2-bit op pair approximates.</summary>
public enum TwoBitActivationKind
{
    /// <summary>ReGelu2 / ReGelu2Grad: GELU, whose derivative is <see cref="ActivationDerivatives.Gelu"/>.</summary>
    Gelu,
    /// <summary>
    /// ReSilu2 / ReSilu2Grad: x·σ(αx), whose derivative is <see cref="ActivationDerivatives.Silu"/>
    /// with the node's alpha.
    /// </summary>
    Silu,
}
