namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// Float64 building blocks for the reference forwards, written from the layers' definitions (not from
/// the graphs). Activations are row-major [rows, features] arrays with rows = batch · seq.
/// </summary>
public static class ReferenceMath
{
    /// <summary>y = x·W (+ b). W is [in, out], or [out, in] when <paramref name="weightIsOutByIn"/>.</summary>
    public static double[] Linear(double[] x, int rows, int inFeatures, int outFeatures, double[] weight, double[]? bias = null, bool weightIsOutByIn = false)
    {
        var y = new double[rows * outFeatures];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias?[o] ?? 0.0;
                for (int i = 0; i < inFeatures; i++)
                {
                    double w = weightIsOutByIn ? weight[o * inFeatures + i] : weight[i * outFeatures + o];
                    sum += x[r * inFeatures + i] * w;
                }
                y[r * outFeatures + o] = sum;
            }
        }
        return y;
    }

    /// <summary>(x − mean) / √(var + ε) · γ + β per row, population variance.</summary>
    public static double[] LayerNorm(double[] x, int rows, int features, double[] gamma, double[] beta, double epsilon)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * features, features);
            double mean = 0;
            foreach (double v in row)
            {
                mean += v;
            }
            mean /= features;
            double variance = 0;
            foreach (double v in row)
            {
                variance += (v - mean) * (v - mean);
            }
            variance /= features;
            double inv = 1.0 / Math.Sqrt(variance + epsilon);
            for (int i = 0; i < features; i++)
            {
                y[r * features + i] = (row[i] - mean) * inv * gamma[i] + beta[i];
            }
        }
        return y;
    }

    /// <summary>x / √(mean(x²) + ε) · scale per row.</summary>
    public static double[] RmsNorm(double[] x, int rows, int features, double[] scale, double epsilon)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * features, features);
            double meanSquare = 0;
            foreach (double v in row)
            {
                meanSquare += v * v;
            }
            double inv = 1.0 / Math.Sqrt(meanSquare / features + epsilon);
            for (int i = 0; i < features; i++)
            {
                y[r * features + i] = row[i] * inv * scale[i];
            }
        }
        return y;
    }

    public static double[] Add(double[] a, double[] b) => [.. a.Select((v, i) => v + b[i])];

    public static double[] Map(double[] x, Func<double, double> f) => [.. x.Select(f)];

    public static double Gelu(double x) => 0.5 * x * (1.0 + Erf(x / Math.Sqrt(2.0)));

    public static double Silu(double x) => x / (1.0 + Math.Exp(-x));

    /// <summary>
    /// erf by the everywhere-convergent series (2/√π)·e^(−x²)·Σ (2x²)ⁿ·x / (1·3·…·(2n+1)); every term
    /// is positive, so there is no cancellation. |erf(x) ∓ 1| &lt; 2e-17 beyond |x| = 6.
    /// </summary>
    public static double Erf(double x)
    {
        if (Math.Abs(x) >= 6.0)
        {
            return Math.Sign(x);
        }
        double twoXSquared = 2.0 * x * x;
        double term = x;
        double sum = x;
        for (int n = 1; Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
        {
            term *= twoXSquared / (2 * n + 1);
            sum += term;
        }
        return 2.0 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
    }

    /// <summary>
    /// Multi-head scaled dot-product attention over q, k, v [batch·seq, heads·headDim]: softmax over
    /// keys of q·k/√d + bias, where <paramref name="scoreBias"/>(b, i, j) is added (−∞ hides a key).
    /// </summary>
    public static double[] Attention(double[] q, double[] k, double[] v, int batch, int seq, int heads, int headDim,
        Func<int, int, int, double> scoreBias)
    {
        int hidden = heads * headDim;
        var context = new double[batch * seq * hidden];
        var scores = new double[seq];
        double scale = 1.0 / Math.Sqrt(headDim);
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < seq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < seq; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            dot += q[(b * seq + i) * hidden + h * headDim + d] * k[(b * seq + j) * hidden + h * headDim + d];
                        }
                        scores[j] = dot * scale + scoreBias(b, i, j);
                        max = Math.Max(max, scores[j]);
                    }
                    double total = 0;
                    for (int j = 0; j < seq; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        total += scores[j];
                    }
                    for (int d = 0; d < headDim; d++)
                    {
                        double sum = 0;
                        for (int j = 0; j < seq; j++)
                        {
                            sum += scores[j] / total * v[(b * seq + j) * hidden + h * headDim + d];
                        }
                        context[(b * seq + i) * hidden + h * headDim + d] = sum;
                    }
                }
            }
        }
        return context;
    }

    /// <summary>Row <paramref name="token"/> of every sequence: [batch·seq, features] → [batch, features].</summary>
    public static double[] TakeToken(double[] x, int batch, int seq, int features, int token)
    {
        var y = new double[batch * features];
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(x, (b * seq + token) * features, y, b * features, features);
        }
        return y;
    }
}
