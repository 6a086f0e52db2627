using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// The AdamW update of ONNX Runtime's AdamWOptimizer kernel, applied in C# because a custom op cannot
/// receive the optimizer model's sequence-of-tensor inputs. Per element, with g the gradient, t the
/// 1-based step, α/β the moment decays, λ the weight decay and η the learning rate:
/// <code>
///   m ← α·m + (1−α)·g          v ← β·v + (1−β)·g²
///   mode 0 (PyTorch):      w ← w − η·λ·w;   w ← w − η·m / ((1−αᵗ)·(√(v/(1−βᵗ)) + ε))
///   mode 1 (Hugging Face): η' = η·√(1−βᵗ)/(1−αᵗ) (η' = η without correct_bias);
///                          w ← w − η'·m / (√v + ε);   w ← w − η·λ·w
/// </code>
/// The update is one fused pass per tensor (each element read once, written once), written with
/// Vector&lt;float&gt; and compiled fully optimised on first use. WHY not TensorPrimitives: its generic
/// kernels start as tier-0 JIT code, measured here 20–40× slower (≈20–30 ms instead of ≈1 ms for
/// 400k parameters, Release build), and a short training run ends before they are re-jitted; a
/// multi-pass TensorPrimitives update also streams every tensor through memory several times.
/// Vector and scalar tail evaluate the same expression in the same order, so results do not
/// depend on the vector width's split point.
/// </summary>
public sealed class AdamW
{
    /// <summary>An updater with <paramref name="settings"/>, usually read from the artifact set's optimizer model.</summary>
    /// <exception cref="ArgumentException">The settings are a combination ONNX Runtime's kernel rejects.</exception>
    public AdamW(AdamWSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings.Validate();
    }

    /// <summary>The validated attributes every <see cref="Update"/> uses.</summary>
    public AdamWSettings Settings { get; }

    /// <summary>Bias corrections for 1-based step <paramref name="step"/>, computed as ORT does (pow in double, then float).</summary>
    public (float Alpha, float Beta) BiasCorrections(long step) => Settings.CorrectBias
        ? (1f - (float)Math.Pow(Settings.Alpha, step), 1f - (float)Math.Pow(Settings.Beta, step))
        : (1f, 1f);

    /// <summary>
    /// Updates one parameter in place. <paramref name="step"/> is 1-based (the first update is step 1,
    /// as ORT passes step + 1); <paramref name="gradientScale"/> multiplies the gradient first (e.g.
    /// 1/N to average N accumulated micro-batches).
    /// </summary>
    public void Update(Span<float> weights, ReadOnlySpan<float> gradients, Span<float> firstMoment, Span<float> secondMoment,
        float learningRate, long step, float gradientScale = 1f)
    {
        int n = weights.Length;
        if (gradients.Length != n || firstMoment.Length != n || secondMoment.Length != n)
        {
            throw new ArgumentException($"AdamW needs equal lengths: weights {n}, gradients {gradients.Length}, moments {firstMoment.Length}/{secondMoment.Length}.");
        }
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "The AdamW step is 1-based.");
        }

        (float alphaCorrection, float betaCorrection) = BiasCorrections(step);
        var coefficients = new Coefficients(
            Alpha: Settings.Alpha,
            OneMinusAlpha: 1f - Settings.Alpha,
            Beta: Settings.Beta,
            OneMinusBeta: 1f - Settings.Beta,
            Epsilon: Settings.Epsilon,
            Decay: learningRate * Settings.WeightDecay,
            GradientScale: gradientScale);
        if (Settings.AdamMode == 0)
        {
            UpdateTorch(weights, gradients, firstMoment, secondMoment, coefficients, learningRate, alphaCorrection, betaCorrection);
        }
        else
        {
            UpdateHuggingFace(weights, gradients, firstMoment, secondMoment, coefficients, learningRate * (MathF.Sqrt(betaCorrection) / alphaCorrection));
        }
    }

    private readonly record struct Coefficients(float Alpha, float OneMinusAlpha, float Beta, float OneMinusBeta, float Epsilon, float Decay, float GradientScale);

    // adam_mode 0: w ← w − η·λ·w, then w ← w − η·m / ((1−αᵗ)·(√(v/(1−βᵗ)) + ε)).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateTorch(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Coefficients c,
        float learningRate, float alphaCorrection, float betaCorrection)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Span<Vector<float>> wv = MemoryMarshal.Cast<float, Vector<float>>(w);
            ReadOnlySpan<Vector<float>> gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            Span<Vector<float>> mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            Span<Vector<float>> vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            for (int k = 0; k < wv.Length; k++)
            {
                Vector<float> grad = gv[k] * c.GradientScale;
                Vector<float> weight = wv[k] - (wv[k] * c.Decay);
                Vector<float> first = (mv[k] * c.Alpha) + (grad * c.OneMinusAlpha);
                Vector<float> second = (vv[k] * c.Beta) + (grad * grad * c.OneMinusBeta);
                Vector<float> denominator = (Vector.SquareRoot(second / betaCorrection) + new Vector<float>(c.Epsilon)) * alphaCorrection;
                wv[k] = weight - (first * learningRate / denominator);
                mv[k] = first;
                vv[k] = second;
            }
            i = wv.Length * Vector<float>.Count;
        }
        for (; i < w.Length; i++)
        {
            float grad = g[i] * c.GradientScale;
            float weight = w[i] - (w[i] * c.Decay);
            float first = (m[i] * c.Alpha) + (grad * c.OneMinusAlpha);
            float second = (v[i] * c.Beta) + (grad * grad * c.OneMinusBeta);
            float denominator = (MathF.Sqrt(second / betaCorrection) + c.Epsilon) * alphaCorrection;
            w[i] = weight - (first * learningRate / denominator);
            m[i] = first;
            v[i] = second;
        }
    }

    // adam_mode 1: w ← w − η'·m / (√v + ε), then w ← w − η·λ·w.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateHuggingFace(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Coefficients c,
        float correctedLearningRate)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Span<Vector<float>> wv = MemoryMarshal.Cast<float, Vector<float>>(w);
            ReadOnlySpan<Vector<float>> gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            Span<Vector<float>> mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            Span<Vector<float>> vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            for (int k = 0; k < wv.Length; k++)
            {
                Vector<float> grad = gv[k] * c.GradientScale;
                Vector<float> first = (mv[k] * c.Alpha) + (grad * c.OneMinusAlpha);
                Vector<float> second = (vv[k] * c.Beta) + (grad * grad * c.OneMinusBeta);
                Vector<float> weight = wv[k] - (first * correctedLearningRate / (Vector.SquareRoot(second) + new Vector<float>(c.Epsilon)));
                wv[k] = weight - (weight * c.Decay);
                mv[k] = first;
                vv[k] = second;
            }
            i = wv.Length * Vector<float>.Count;
        }
        for (; i < w.Length; i++)
        {
            float grad = g[i] * c.GradientScale;
            float first = (m[i] * c.Alpha) + (grad * c.OneMinusAlpha);
            float second = (v[i] * c.Beta) + (grad * grad * c.OneMinusBeta);
            float weight = w[i] - (first * correctedLearningRate / (MathF.Sqrt(second) + c.Epsilon));
            w[i] = weight - (weight * c.Decay);
            m[i] = first;
            v[i] = second;
        }
    }
}
