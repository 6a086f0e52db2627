using OnnxMemOpt.Fixtures.Models;
using static OnnxMemOpt.Tests.Fixtures.ReferenceMath;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>Float64 forward of HF RobertaForSequenceClassification (eval mode), from its named weights.</summary>
public static class RobertaReference
{
    public sealed record Outputs(double[] LastHiddenState, double[] Logits);

    public static Outputs Run(RobertaOptions o, ModelWeights w, long[] ids, long[]? attentionMask, int batch)
    {
        int seq = o.SeqLen;
        int rows = batch * seq;
        int d = o.Hidden;
        double[] words = w.Get("embeddings.word_embeddings.weight", o.Vocab, d);
        double[] tokenType = w.Get("embeddings.token_type_embeddings.weight", 1, d);
        double[] positions = w.Get("embeddings.position_embeddings.weight", o.MaxPositions, d);
        var x = new double[rows * d];
        for (int b = 0; b < batch; b++)
        {
            long nonPadSoFar = 0;
            for (int s = 0; s < seq; s++)
            {
                int r = b * seq + s;
                // Position ids count non-padding tokens from padding_idx + 1; padding sits at padding_idx.
                bool isPad = ids[r] == RobertaOptions.PaddingIdx;
                nonPadSoFar += isPad ? 0 : 1;
                long position = isPad ? RobertaOptions.PaddingIdx : RobertaOptions.PaddingIdx + nonPadSoFar;
                for (int i = 0; i < d; i++)
                {
                    x[r * d + i] = words[ids[r] * d + i] + tokenType[i] + positions[position * d + i];
                }
            }
        }
        x = LayerNorm(x, rows, d, w.Get("embeddings.LayerNorm.weight", d), w.Get("embeddings.LayerNorm.bias", d), o.Epsilon);

        Func<int, int, int, double> bias = attentionMask is null
            ? (_, _, _) => 0.0
            : (b, _, key) => attentionMask[b * seq + key] == 0 ? float.MinValue : 0.0;
        for (int layer = 0; layer < o.Blocks; layer++)
        {
            string p = $"encoder.layer.{layer}.";
            double[] Dense(double[] input, string module, int inFeatures, int outFeatures) =>
                Linear(input, rows, inFeatures, outFeatures, w.Get(p + module + ".weight", inFeatures, outFeatures), w.Get(p + module + ".bias", outFeatures));
            double[] Norm(double[] input, string module) =>
                LayerNorm(input, rows, d, w.Get(p + module + ".weight", d), w.Get(p + module + ".bias", d), o.Epsilon);

            double[] q = Dense(x, "attention.self.query", d, d);
            double[] k = Dense(x, "attention.self.key", d, d);
            double[] v = Dense(x, "attention.self.value", d, d);
            double[] context = Attention(q, k, v, batch, seq, o.Heads, o.HeadDim, bias);
            x = Norm(Add(Dense(context, "attention.output.dense", d, d), x), "attention.output.LayerNorm");
            double[] inner = Map(Dense(x, "intermediate.dense", d, o.Mlp), Gelu);
            x = Norm(Add(Dense(inner, "output.dense", o.Mlp, d), x), "output.LayerNorm");
        }

        double[] first = TakeToken(x, batch, seq, d, 0);
        double[] pooled = Map(Linear(first, batch, d, d, w.Get("classifier.dense.weight", d, d), w.Get("classifier.dense.bias", d)), Math.Tanh);
        double[] logits = Linear(pooled, batch, d, o.Classes, w.Get("classifier.out_proj.weight", d, o.Classes), w.Get("classifier.out_proj.bias", o.Classes));
        return new Outputs(x, logits);
    }
}
