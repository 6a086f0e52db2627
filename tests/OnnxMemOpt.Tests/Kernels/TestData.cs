namespace OnnxMemOpt.Tests.Kernels;

/// <summary>Deterministic inputs for kernel tests.</summary>
public static class TestData
{
    public static float[] Normal(int count, int seed, double scale = 1.0, double offset = 0.0)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            // Box-Muller: enough for test data.
            double u = 1.0 - random.NextDouble();
            double v = random.NextDouble();
            values[i] = (float)(offset + scale * Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v));
        }
        return values;
    }

    public static float[] Uniform(int count, int seed, double low, double high)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(low + (high - low) * random.NextDouble())).ToArray();
    }

    /// <summary>
    /// Each threshold rounded to the element type, with its neighbours one ulp of that type below
    /// and above, plus signed zeros, infinities and NaN.
    /// </summary>
    public static float[] ThresholdEdges(KernelElementType type, double[] thresholds, double divisor = 1.0)
    {
        var values = new List<float> { 0.0f, -0.0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN };
        foreach (double c in thresholds)
        {
            float nearest = type.Round(c / divisor);
            values.Add(nearest);
            values.Add(type.Neighbour(nearest, -1));
            values.Add(type.Neighbour(nearest, +1));
        }
        return values.ToArray();
    }
}
