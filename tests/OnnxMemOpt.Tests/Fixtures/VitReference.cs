using OnnxMemOpt.Fixtures.Models;
using static OnnxMemOpt.Tests.Fixtures.ReferenceMath;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>Float64 forward of a pre-LN ViT, from the model's definition and its named weights.</summary>
public static class VitReference
{
    public static double[] Logits(VitOptions o, ModelWeights w, float[] patches, int batch)
    {
        int rows = batch * o.Tokens;
        int d = o.Hidden;
        double[] x = Linear([.. patches.Select(v => (double)v)], rows, o.PatchDim, d,
            w.Get("patch_embed.proj.weight", o.PatchDim, d), w.Get("patch_embed.proj.bias", d));
        double[] pos = w.Get("pos_embed", 1, o.Tokens, d);
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < d; i++)
            {
                x[r * d + i] += pos[(r % o.Tokens) * d + i];
            }
        }

        for (int layer = 0; layer < o.Blocks; layer++)
        {
            string p = $"blocks.{layer}.";
            double[] h = LayerNorm(x, rows, d, w.Get(p + "norm1.weight", d), w.Get(p + "norm1.bias", d), o.Epsilon);
            double[] q = Linear(h, rows, d, d, w.Get(p + "attn.q.weight", d, d), w.Get(p + "attn.q.bias", d));
            double[] k = Linear(h, rows, d, d, w.Get(p + "attn.k.weight", d, d), w.Get(p + "attn.k.bias", d));
            double[] v = Linear(h, rows, d, d, w.Get(p + "attn.v.weight", d, d), w.Get(p + "attn.v.bias", d));
            double[] context = Attention(q, k, v, batch, o.Tokens, o.Heads, o.HeadDim, (_, _, _) => 0.0);
            x = Add(x, Linear(context, rows, d, d, w.Get(p + "attn.proj.weight", d, d), w.Get(p + "attn.proj.bias", d)));

            h = LayerNorm(x, rows, d, w.Get(p + "norm2.weight", d), w.Get(p + "norm2.bias", d), o.Epsilon);
            h = Linear(h, rows, d, o.Mlp, w.Get(p + "mlp.fc1.weight", d, o.Mlp), w.Get(p + "mlp.fc1.bias", o.Mlp));
            h = Map(h, Gelu);
            x = Add(x, Linear(h, rows, o.Mlp, d, w.Get(p + "mlp.fc2.weight", o.Mlp, d), w.Get(p + "mlp.fc2.bias", d)));
        }

        x = LayerNorm(x, rows, d, w.Get("norm.weight", d), w.Get("norm.bias", d), o.Epsilon);
        double[] first = TakeToken(x, batch, o.Tokens, d, 0);
        return Linear(first, batch, d, o.Classes, w.Get("head.weight", d, o.Classes), w.Get("head.bias", o.Classes));
    }
}
