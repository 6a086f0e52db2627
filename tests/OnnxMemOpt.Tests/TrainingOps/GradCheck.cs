using Microsoft.ML.OnnxRuntime;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// Float64 finite differences and error measures for the gradient-op tests. The gradient of a
/// forward f: R^n -> R^m seen through an upstream gradient dY is the gradient of the scalar
/// L(x) = sum(dY * f(x)); its central difference has truncation error O(h^2), which with h = 1e-5
/// on O(1) inputs is far below float32 rounding.
/// </summary>
internal static class GradCheck
{
    public const double Step = 1e-5;

    /// <summary>dL/dx_i by central differences of L(x) = sum(dY * forward(x)).</summary>
    public static double[] Gradient(Func<double[], double[]> forward, double[] x, double[] dy, double step = Step)
    {
        var grad = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            probe[i] = x[i] + step;
            double plus = Dot(dy, forward(probe));
            probe[i] = x[i] - step;
            double minus = Dot(dy, forward(probe));
            probe[i] = x[i];
            grad[i] = (plus - minus) / (2 * step);
        }
        return grad;
    }

    public static double Dot(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }

    /// <summary>max |actual - expected| / max |expected|: one number per tensor, insensitive to
    /// the relative noise of entries that are near zero.</summary>
    public static double RelativeError(double[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.False(double.IsNaN(actual[i]), $"NaN at {i}");
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    public static void AssertClose(double[] actual, double[] expected, double tolerance, string what)
    {
        double error = RelativeError(actual, expected);
        Assert.True(error <= tolerance, $"{what}: relative error {error:E3} exceeds {tolerance:E1}");
    }

    /// <summary>Deterministic values in [lo, hi).</summary>
    public static double[] Uniform(Random random, int count, double lo = -1, double hi = 1) =>
        Enumerable.Range(0, count).Select(_ => lo + (hi - lo) * random.NextDouble()).ToArray();

    public static long Count(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The values a tensor of <paramref name="type"/> actually holds after the harness
    /// converts them, so float64 references start from exactly the kernel's inputs.</summary>
    public static double[] Quantize(DataType type, double[] values) => type switch
    {
        DataType.Float => values.Select(v => (double)(float)v).ToArray(),
        DataType.Float16 => values.Select(v => (double)(float)(Float16)(float)v).ToArray(),
        DataType.Bfloat16 => values.Select(v => (double)(float)(BFloat16)(float)v).ToArray(),
        _ => values,
    };

    /// <summary>Relative-error budget of a gradient computed in <paramref name="type"/> against its
    /// float64 finite-difference reference: output rounding of the type plus headroom.</summary>
    public static double Tolerance(DataType type) => type switch
    {
        DataType.Double => 1e-8,
        DataType.Float => 2e-5,
        DataType.Float16 => 3e-3,
        DataType.Bfloat16 => 2e-2,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
