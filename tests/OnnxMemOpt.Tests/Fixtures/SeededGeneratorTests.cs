using OnnxMemOpt.Fixtures.Building;

namespace OnnxMemOpt.Tests.Fixtures;

public sealed class SeededGeneratorTests
{
    [Fact]
    public void SameSeedAndNameGiveTheSameStream()
    {
        var a = SeededGenerator.ForTensor(7, "blocks.0.attn.q.weight");
        var b = SeededGenerator.ForTensor(7, "blocks.0.attn.q.weight");
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(a.NextUInt64(), b.NextUInt64());
        }
    }

    [Fact]
    public void DifferentNamesOrSeedsGiveDifferentStreams()
    {
        ulong q = SeededGenerator.ForTensor(7, "blocks.0.attn.q.weight").NextUInt64();
        ulong k = SeededGenerator.ForTensor(7, "blocks.0.attn.k.weight").NextUInt64();
        ulong otherSeed = SeededGenerator.ForTensor(8, "blocks.0.attn.q.weight").NextUInt64();
        Assert.NotEqual(q, k);
        Assert.NotEqual(q, otherSeed);
    }

    [Fact]
    public void FillStaysInRangeWithTheRequestedMoments()
    {
        // U(c − h, c + h) has mean c and variance h²/3.
        var init = new WeightInit(1f, 0.2f);
        var values = new float[200_000];
        var generator = SeededGenerator.ForTensor(1, "norm.weight");
        init.Fill(values, ref generator);

        Assert.All(values, v => Assert.InRange(v, 0.8f, 1.2f));
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, 1.0 - 0.002, 1.0 + 0.002);
        Assert.InRange(variance, 0.04 / 3 * 0.98, 0.04 / 3 * 1.02);
    }
}
