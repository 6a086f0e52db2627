using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class AdamWTests
{
    [Theory]
    [InlineData(0, true, 0.0f)]
    [InlineData(0, true, 0.05f)]
    [InlineData(1, true, 0.0f)]
    [InlineData(1, true, 0.05f)]
    [InlineData(1, false, 0.05f)]
    public void MatchesTheFloat64FormulaOverSeveralSteps(int mode, bool correctBias, float weightDecay)
    {
        var settings = new AdamWSettings { AdamMode = mode, CorrectBias = correctBias, WeightDecay = weightDecay, Epsilon = 1e-6f };
        var random = new Random(mode * 10 + (correctBias ? 1 : 0));
        const int n = 10_000; // spans several of the optimizer's chunks
        float[] w = RandomArray(random, n, 1f);
        float[] m = new float[n];
        float[] v = new float[n];
        double[] rw = w.Select(x => (double)x).ToArray();
        double[] rm = new double[n];
        double[] rv = new double[n];
        var adam = new AdamW(settings);

        for (int step = 1; step <= 5; step++)
        {
            float[] g = RandomArray(random, n, 0.1f);
            const float lr = 0.01f;
            adam.Update(w, g, m, v, lr, step);
            ReferenceStep(settings, rw, g, rm, rv, lr, step);
        }

        for (int i = 0; i < n; i++)
        {
            Assert.True(Math.Abs(w[i] - rw[i]) <= 1e-5 * Math.Max(1, Math.Abs(rw[i])), $"w[{i}] {w[i]} vs {rw[i]}");
            // m is a running sum of gradients of size 0.1 that can cancel: float rounding is relative to them.
            Assert.True(Math.Abs(m[i] - rm[i]) <= 1e-6 * Math.Abs(rm[i]) + 1e-7, $"m[{i}] {m[i]} vs {rm[i]}");
            Assert.True(Math.Abs(v[i] - rv[i]) <= 1e-5 * Math.Abs(rv[i]) + 1e-12, $"v[{i}] {v[i]} vs {rv[i]}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void FirstBiasCorrectedStepMovesEachWeightByTheLearningRate(int mode)
    {
        // Adam's defining property: with bias correction, step 1 moves every weight by ≈ η·sign(g),
        // whatever the gradient's magnitude (ε aside).
        var adam = new AdamW(new AdamWSettings { AdamMode = mode, WeightDecay = 0, Epsilon = 1e-8f });
        float[] w = [1f, -2f, 0.5f, 3f];
        float[] g = [0.3f, -7f, 1e-2f, -0.5f];
        float[] m = new float[4];
        float[] v = new float[4];
        adam.Update(w, g, m, v, learningRate: 0.1f, step: 1);
        Assert.Equal(new[] { 0.9f, -1.9f, 0.4f, 3.1f }, w, new ToleranceComparer(1e-5f));
    }

    [Fact]
    public void WithoutBiasCorrectionTheFirstStepIsScaledByOneMinusAlphaOverRootOneMinusBeta()
    {
        var adam = new AdamW(new AdamWSettings { AdamMode = 1, CorrectBias = false, WeightDecay = 0, Epsilon = 0 });
        float[] w = [0f];
        adam.Update(w, [2f], new float[1], new float[1], learningRate: 0.01f, step: 1);
        // m = 0.1·2, √v = √0.001·2  →  Δw = −0.01 · 0.1/√0.001.
        Assert.Equal(-0.01 * 0.1 / Math.Sqrt(0.001), w[0], 5);
    }

    [Fact]
    public void ModesDifferInWhereWeightDecayIsApplied()
    {
        // Zero gradient and zero moments: only the decay moves the weight, by η·λ·w in both modes.
        foreach (int mode in new[] { 0, 1 })
        {
            var adam = new AdamW(new AdamWSettings { AdamMode = mode, WeightDecay = 0.5f });
            float[] w = [2f];
            adam.Update(w, [0f], new float[1], new float[1], learningRate: 0.1f, step: 3);
            Assert.Equal(2f * (1 - 0.05f), w[0], 6);
        }

        // With a gradient, mode 0 decays the old weight and mode 1 the updated one:
        // mode 0: w − ηλw − u, mode 1: (w − u)(1 − ηλ), where u is the Adam step (≈ η on step 1).
        var settings0 = new AdamWSettings { AdamMode = 0, WeightDecay = 0.5f, Epsilon = 0 };
        var settings1 = settings0 with { AdamMode = 1 };
        float[] w0 = [2f];
        float[] w1 = [2f];
        new AdamW(settings0).Update(w0, [1f], new float[1], new float[1], 0.1f, 1);
        new AdamW(settings1).Update(w1, [1f], new float[1], new float[1], 0.1f, 1);
        Assert.Equal(2f - 0.1f - 0.1f, w0[0], 5);
        Assert.Equal((2f - 0.1f) * 0.95f, w1[0], 5);
    }

    [Fact]
    public void GradientScaleEqualsScalingTheGradient()
    {
        var settings = new AdamWSettings { AdamMode = 1, WeightDecay = 0.01f };
        float[] g = RandomArray(new Random(3), 100, 1f);
        float[] wa = new float[100], ma = new float[100], va = new float[100];
        float[] wb = new float[100], mb = new float[100], vb = new float[100];
        new AdamW(settings).Update(wa, g, ma, va, 0.01f, 1, gradientScale: 0.25f);
        new AdamW(settings).Update(wb, g.Select(x => x * 0.25f).ToArray(), mb, vb, 0.01f, 1);
        Assert.Equal(wb, wa);
        Assert.Equal(vb, va);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void VectorAndScalarPathsGiveIdenticalBits(int mode)
    {
        // A 37-element tensor runs mostly through the vector loop; one element at a time only
        // through the scalar tail. Both must produce the same bits.
        var settings = new AdamWSettings { AdamMode = mode, WeightDecay = 0.1f, Epsilon = 1e-6f };
        var random = new Random(17);
        float[] w = RandomArray(random, 37, 1f), g = RandomArray(random, 37, 0.5f);
        float[] m = RandomArray(random, 37, 0.1f), v = RandomArray(random, 37, 0.1f).Select(Math.Abs).ToArray();
        float[] w1 = (float[])w.Clone(), m1 = (float[])m.Clone(), v1 = (float[])v.Clone();
        var adam = new AdamW(settings);
        adam.Update(w, g, m, v, 0.01f, 4, gradientScale: 0.5f);
        for (int i = 0; i < 37; i++)
        {
            adam.Update(w1.AsSpan(i, 1), g.AsSpan(i, 1), m1.AsSpan(i, 1), v1.AsSpan(i, 1), 0.01f, 4, gradientScale: 0.5f);
        }
        Assert.Equal(w1.Select(BitConverter.SingleToInt32Bits), w.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(m1.Select(BitConverter.SingleToInt32Bits), m.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(v1.Select(BitConverter.SingleToInt32Bits), v.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void InvalidCombinationsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new AdamW(new AdamWSettings { AdamMode = 0, CorrectBias = false }));
        Assert.Throws<ArgumentException>(() => new AdamW(new AdamWSettings { AdamMode = 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(new AdamWSettings()).Update(new float[1], new float[1], new float[1], new float[1], 0.1f, 0));
    }

    [Fact]
    public void ReadsAttributesAndSchemaDefaults()
    {
        var node = new NodeProto { OpType = "AdamWOptimizer", Domain = "com.microsoft" };
        node.Attribute.Add(TinyModel.Attr("adam_mode", 1L));
        node.Attribute.Add(TinyModel.Attr("epsilon", 1e-6f));
        AdamWSettings settings = AdamWSettings.FromNode(node, "test");
        Assert.Equal(new AdamWSettings { AdamMode = 1, Epsilon = 1e-6f, Alpha = 0.9f, Beta = 0.999f, WeightDecay = 0.01f, CorrectBias = true }, settings);
    }

    [SkippableFact]
    public void ReadsTheArtifactOptimizerModels()
    {
        foreach (string rel in new[] { "ort-training/mlp-artifacts/adamw.onnx", "ort-training/lora-mlp/optimizer_model.onnx" })
        {
            AdamWSettings settings = AdamWSettings.FromOptimizerModel(SharedTestData.RequireFile(rel));
            Assert.Equal(new AdamWSettings { AdamMode = 1, Alpha = 0.9f, Beta = 0.999f, CorrectBias = true, Epsilon = 1e-6f, WeightDecay = 0f }, settings);
        }
    }

    private static void ReferenceStep(AdamWSettings s, double[] w, float[] g, double[] m, double[] v, double lr, int t)
    {
        double a = s.Alpha, b = s.Beta, eps = s.Epsilon, wd = s.WeightDecay;
        double c1 = s.CorrectBias ? 1 - Math.Pow(a, t) : 1;
        double c2 = s.CorrectBias ? 1 - Math.Pow(b, t) : 1;
        for (int i = 0; i < w.Length; i++)
        {
            if (s.AdamMode == 0)
            {
                w[i] -= lr * wd * w[i];
            }
            m[i] = a * m[i] + (1 - a) * g[i];
            v[i] = b * v[i] + (1 - b) * g[i] * (double)g[i];
            if (s.AdamMode == 0)
            {
                w[i] -= lr * (m[i] / c1) / (Math.Sqrt(v[i] / c2) + eps);
            }
            else
            {
                w[i] -= lr * Math.Sqrt(c2) / c1 * m[i] / (Math.Sqrt(v[i]) + eps);
                w[i] -= lr * wd * w[i];
            }
        }
    }

    private static float[] RandomArray(Random random, int n, float scale) =>
        Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
