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

    /// <summary>(outer, length, inner) of a reduction over <paramref name="axis"/>: the single
    /// dimension (opset-13 softmax) or, coerced to 2-D, all dimensions from axis on.</summary>
    public static (long Outer, long Length, long Inner) Blocks(long[] shape, int axis, bool singleAxis)
    {
        if (axis < 0)
        {
            axis += shape.Length;
        }
        long outer = shape.Take(axis).Aggregate(1L, (a, b) => a * b);
        long length = singleAxis ? shape[axis] : shape.Skip(axis).Aggregate(1L, (a, b) => a * b);
        long inner = singleAxis ? shape.Skip(axis + 1).Aggregate(1L, (a, b) => a * b) : 1;
        return (outer, length, inner);
    }

    /// <summary>Softmax or log-softmax over the blocks of <see cref="Blocks"/>.</summary>
    public static double[] Softmax(double[] x, long[] shape, int axis, bool singleAxis, bool log)
    {
        var (outer, length, inner) = Blocks(shape, axis, singleAxis);
        var y = new double[x.Length];
        for (long o = 0; o < outer; o++)
        {
            for (long i = 0; i < inner; i++)
            {
                long At(long a) => (o * length + a) * inner + i;
                double max = double.NegativeInfinity;
                for (long a = 0; a < length; a++)
                {
                    max = Math.Max(max, x[At(a)]);
                }
                double sum = 0;
                for (long a = 0; a < length; a++)
                {
                    sum += Math.Exp(x[At(a)] - max);
                }
                for (long a = 0; a < length; a++)
                {
                    y[At(a)] = log ? x[At(a)] - max - Math.Log(sum) : Math.Exp(x[At(a)] - max) / sum;
                }
            }
        }
        return y;
    }

    /// <summary>Layer normalization over the dimensions from <paramref name="axis"/> on: output
    /// y, per-row mean and 1/sqrt(var + eps) (population variance); RMS form when
    /// <paramref name="rms"/> (no centring, mean reported as 0).</summary>
    public static (double[] Y, double[] Mean, double[] InvStd) LayerNorm(
        double[] x, long[] shape, int axis, double[] scale, double[]? bias, double epsilon, bool rms = false)
    {
        var (rows, width, _) = Blocks(shape, axis, singleAxis: false);
        var y = new double[x.Length];
        var means = new double[rows];
        var invs = new double[rows];
        for (long r = 0; r < rows; r++)
        {
            double mean = 0;
            if (!rms)
            {
                for (long j = 0; j < width; j++)
                {
                    mean += x[r * width + j];
                }
                mean /= width;
            }
            double variance = 0;
            for (long j = 0; j < width; j++)
            {
                double d = x[r * width + j] - mean;
                variance += d * d;
            }
            double inv = 1 / Math.Sqrt(variance / width + epsilon);
            means[r] = mean;
            invs[r] = inv;
            for (long j = 0; j < width; j++)
            {
                y[r * width + j] = (x[r * width + j] - mean) * inv * scale[j] + (bias?[j] ?? 0);
            }
        }
        return (y, means, invs);
    }

    /// <summary>Softmax cross-entropy with the ONNX conventions: scores [N, C, d...], labels
    /// [N, d...], optional class weights, optional ignored label; returns the reduced loss ("none"
    /// gives one value per sample) and log-probabilities.</summary>
    public static (double[] Loss, double[] LogProb) SoftmaxCrossEntropy(
        double[] scores, long[] shape, long[] labels, double[]? weights, long? ignoreIndex, string reduction)
    {
        long classes = shape[1];
        long inner = shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        var swapped = new long[] { shape[0], classes, inner };
        double[] logProb = Softmax(scores, swapped, axis: 1, singleAxis: true, log: true);
        var perSample = new double[labels.Length];
        double divisor = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            if (ignoreIndex == labels[i])
            {
                continue;
            }
            long n = i / inner;
            long d = i % inner;
            double w = weights?[labels[i]] ?? 1;
            perSample[i] = -logProb[(n * classes + labels[i]) * inner + d] * w;
            divisor += w;
        }
        double total = perSample.Sum();
        double[] loss = reduction switch
        {
            "none" => perSample,
            "sum" => [total],
            _ => [divisor != 0 ? total / divisor : total],
        };
        return (loss, logProb);
    }
}
