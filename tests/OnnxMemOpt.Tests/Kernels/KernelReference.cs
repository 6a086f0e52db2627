namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// Float64 reference maths for the kernels, written independently of the C++ code: the normal
/// CDF from series and continued fractions of erf/erfc, the published ReGELU2/ReSiLU2 tables
/// (METHOD.md), and the layer-norm / RMS-norm input gradients computed from the original input.
/// </summary>
public static class KernelReference
{
    public static readonly double[] ReGelu2Thresholds = [-3.1858810036855245, -0.001178821281161997, 3.190832613414926];
    public static readonly double[] ReGelu2Levels = [0.0, -0.04922261145617846, 1.0487405950855513, 1.0];
    /// <summary>Few-Bit Backward's derivative-fitted 2-bit GELU table (ReGelu2 attribute table = "few-bit").</summary>
    public static readonly double[] FewBitGelu2Thresholds = [-0.4536, 0.0, 0.4536];
    public static readonly double[] FewBitGelu2Levels = [-0.0015, 0.3251, 0.6749, 1.0015];
    public static readonly double[] ReSilu2Thresholds = [-6.3050461001646445, -0.0008684942046214787, 6.325815242089708];
    public static readonly double[] ReSilu2Levels = [0.0, -0.04060357190528599, 1.0403218566243821, 1.0];

    /// <summary>erfc(t) with relative error around 1e-14 over the range the tests need.</summary>
    public static double Erfc(double t)
    {
        if (double.IsNaN(t))
        {
            return double.NaN;
        }
        if (t < 0)
        {
            return 2.0 - Erfc(-t);
        }
        if (t < 2.0)
        {
            // erfc(2) = 4.7e-3, so 1 - erf loses at most about two digits here.
            return 1.0 - ErfSeries(t);
        }
        if (t > 27.0)
        {
            return 0.0;
        }
        // Continued fraction erfc(t) = e^{-t^2}/sqrt(pi) / (t + (1/2)/(t + 1/(t + (3/2)/(t + ...)))),
        // evaluated from the tail; 200 terms are far past convergence for t >= 2.
        double fraction = t;
        for (int n = 200; n >= 1; n--)
        {
            fraction = t + (n / 2.0) / fraction;
        }
        return Math.Exp(-t * t) / Math.Sqrt(Math.PI) / fraction;
    }

    /// <summary>erf(t) = 2/sqrt(pi) e^{-t^2} sum 2^n t^{2n+1} / (1*3*...*(2n+1)): all terms positive, no cancellation.</summary>
    private static double ErfSeries(double t)
    {
        double term = t;
        double sum = t;
        for (int n = 1; n < 200 && term > sum * 1e-18; n++)
        {
            term *= 2.0 * t * t / (2 * n + 1);
            sum += term;
        }
        return 2.0 / Math.Sqrt(Math.PI) * Math.Exp(-t * t) * sum;
    }

    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2.0));

    /// <summary>Exact-erf GELU; its limit -0 at -inf (the formula gives NaN there).</summary>
    public static double Gelu(double x) => double.IsNegativeInfinity(x) ? -0.0 : x * NormalCdf(x);

    /// <summary>x * sigmoid(alpha x); its limit -0 at -inf.</summary>
    public static double Silu(double x, double alpha) => double.IsNegativeInfinity(x) ? -0.0 : x / (1.0 + Math.Exp(-alpha * x));

    /// <summary>code(x) = [x > c0] + [x > c1] + [x > c2], compared exactly in double; NaN gives 0.</summary>
    public static int Code(float x, double[] thresholds, double divisor = 1.0)
    {
        int code = 0;
        foreach (double c in thresholds)
        {
            code += x > c / divisor ? 1 : 0;
        }
        return code;
    }

    /// <summary>Code of element i in the packed layout: byte i/4, bits 2*(i%4), least significant first.</summary>
    public static int Unpack(ReadOnlySpan<byte> packed, long i) => (packed[(int)(i >> 2)] >> (int)(2 * (i & 3))) & 3;

    /// <summary>
    /// Input gradient of the original normalisation (no affine) for one row, from the input x:
    /// centred (LayerNorm): dx = rstd (g - mean g - xhat mean(g xhat)); RMSNorm: dx = rstd (g - xhat mean(g xhat)).
    /// </summary>
    public static double[] NormInputGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> g, double epsilon, bool centred)
    {
        int n = x.Length;
        double mean = 0;
        if (centred)
        {
            foreach (float v in x)
            {
                mean += v;
            }
            mean /= n;
        }
        double second = 0;
        foreach (float v in x)
        {
            second += (v - mean) * (v - mean);
        }
        double rstd = 1.0 / Math.Sqrt(second / n + epsilon);
        double meanG = 0;
        double meanGx = 0;
        for (int i = 0; i < n; i++)
        {
            double xhat = (x[i] - mean) * rstd;
            meanG += g[i];
            meanGx += g[i] * xhat;
        }
        meanG /= n;
        meanGx /= n;
        var dx = new double[n];
        for (int i = 0; i < n; i++)
        {
            double xhat = (x[i] - mean) * rstd;
            dx[i] = rstd * (g[i] - (centred ? meanG : 0.0) - xhat * meanGx);
        }
        return dx;
    }
}
