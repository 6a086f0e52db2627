using OnnxMemOpt.Fixtures.Models;
using static OnnxMemOpt.Tests.Fixtures.ReferenceMath;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>Float64 forward of a causal LLaMA block stack (no rotary embedding), from its named weights.</summary>
public static class LlamaReference
{
    public static double[] Logits(LlamaOptions o, ModelWeights w, long[] ids, int batch)
    {
        int rows = batch * o.SeqLen;
        int d = o.Hidden;
        bool outByIn = o.WeightsBehindTranspose;
        double[] Proj(double[] input, string name, int inFeatures, int outFeatures) =>
            Linear(input, rows, inFeatures, outFeatures,
                w.Get(name, outByIn ? [outFeatures, inFeatures] : [inFeatures, outFeatures]), weightIsOutByIn: outByIn);

        double[] table = w.Get("tok_embeddings.weight", o.Vocab, d);
        var x = new double[rows * d];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(table, ids[r] * d, x, r * d, d);
        }

        for (int layer = 0; layer < o.Blocks; layer++)
        {
            string p = $"layers.{layer}.";
            double[] h = RmsNorm(x, rows, d, w.Get(p + "sa_norm.scale", d), o.Epsilon);
            double[] q = Proj(h, p + "attn.q_proj.weight", d, d);
            double[] k = Proj(h, p + "attn.k_proj.weight", d, d);
            double[] v = Proj(h, p + "attn.v_proj.weight", d, d);
            double[] context = Attention(q, k, v, batch, o.SeqLen, o.Heads, o.HeadDim,
                (_, query, key) => key > query ? double.NegativeInfinity : 0.0);
            x = Add(x, Proj(context, p + "attn.output_proj.weight", d, d));

            h = RmsNorm(x, rows, d, w.Get(p + "mlp_norm.scale", d), o.Epsilon);
            double[] gate = Proj(h, p + "mlp.w1.weight", d, o.Mlp);
            double[] up = Proj(h, p + "mlp.w3.weight", d, o.Mlp);
            double[] product = [.. gate.Select((g, i) => Silu(g) * up[i])];
            x = Add(x, Proj(product, p + "mlp.w2.weight", o.Mlp, d));
        }

        x = RmsNorm(x, rows, d, w.Get("norm.scale", d), o.Epsilon);
        return Proj(x, "output.weight", d, o.Vocab);
    }
}
