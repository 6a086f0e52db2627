using System.Numerics.Tensors;

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
/// Tensors are processed in cache-sized chunks so the several vectorised passes over each chunk
/// read it from cache rather than from memory.
/// </summary>
public sealed class AdamW
{
    private const int ChunkSize = 4096;

    private readonly float[] _scratch = new float[ChunkSize];
    private readonly float[] _scaled = new float[ChunkSize];

    public AdamW(AdamWSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings.Validate();
    }

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
        float correctedLearningRate = learningRate * (MathF.Sqrt(betaCorrection) / alphaCorrection);
        float decay = learningRate * Settings.WeightDecay;

        for (int start = 0; start < n; start += ChunkSize)
        {
            int length = Math.Min(ChunkSize, n - start);
            Span<float> w = weights.Slice(start, length);
            ReadOnlySpan<float> g = gradients.Slice(start, length);
            Span<float> m = firstMoment.Slice(start, length);
            Span<float> v = secondMoment.Slice(start, length);
            Span<float> tmp = _scratch.AsSpan(0, length);
            if (gradientScale != 1f)
            {
                Span<float> scaled = _scaled.AsSpan(0, length);
                TensorPrimitives.Multiply(g, gradientScale, scaled);
                g = scaled;
            }

            if (Settings.AdamMode == 0 && decay != 0)
            {
                TensorPrimitives.MultiplyAdd(w, -decay, w, w);
            }

            // m ← α·m + (1−α)·g;  v ← β·v + (1−β)·g².
            TensorPrimitives.Multiply(m, Settings.Alpha, m);
            TensorPrimitives.MultiplyAdd(g, 1f - Settings.Alpha, m, m);
            TensorPrimitives.Multiply(g, g, tmp);
            TensorPrimitives.Multiply(v, Settings.Beta, v);
            TensorPrimitives.MultiplyAdd(tmp, 1f - Settings.Beta, v, v);

            if (Settings.AdamMode == 0)
            {
                // denominator (1−αᵗ)·(√(v/(1−βᵗ)) + ε); w ← w − η·m / denominator.
                TensorPrimitives.Divide(v, betaCorrection, tmp);
                TensorPrimitives.Sqrt(tmp, tmp);
                TensorPrimitives.Add(tmp, Settings.Epsilon, tmp);
                TensorPrimitives.Multiply(tmp, alphaCorrection, tmp);
                TensorPrimitives.Divide(m, tmp, tmp);
                TensorPrimitives.MultiplyAdd(tmp, -learningRate, w, w);
            }
            else
            {
                TensorPrimitives.Sqrt(v, tmp);
                TensorPrimitives.Add(tmp, Settings.Epsilon, tmp);
                TensorPrimitives.Divide(m, tmp, tmp);
                TensorPrimitives.MultiplyAdd(tmp, -correctedLearningRate, w, w);
                if (decay != 0)
                {
                    TensorPrimitives.MultiplyAdd(w, -decay, w, w);
                }
            }
        }
    }
}
