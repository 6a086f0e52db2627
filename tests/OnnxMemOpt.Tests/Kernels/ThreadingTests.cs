namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// The kernels split work over the session's intra-op threads in chunks that own whole code
/// bytes and whole rows, so the result must not depend on the thread count, bit for bit.
/// </summary>
public class ThreadingTests
{
    [Theory]
    [InlineData("ReGelu2")]
    [InlineData("ReSilu2")]
    public void TwoBitOpsGiveTheSameBitsOnOneAndTwoThreads(string op)
    {
        const int n = 200_003;
        float[] x = TestData.Uniform(n, 11, -8.0, 8.0);
        float[] dy = TestData.Normal(n, 12);
        var (one, two) = (RunTwoBit(op, x, dy, 1), RunTwoBit(op, x, dy, 2));
        Assert.Equal(one.Y, two.Y);
        Assert.Equal(one.Code, two.Code);
        Assert.Equal(one.Dx, two.Dx);
    }

    [Theory]
    [InlineData("MsLayerNorm")]
    [InlineData("MsRmsNorm")]
    public void NormsGiveTheSameBitsOnOneAndTwoThreads(string op)
    {
        long[] shape = [300, 768];
        int n = 300 * 768;
        float[] x = TestData.Normal(n, 21, 2.0, 0.5);
        float[] g = TestData.Normal(n, 22);
        float[][] one = RunNorm(op, shape, x, g, 1);
        float[][] two = RunNorm(op, shape, x, g, 2);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
        }
    }

    private static (float[] Y, byte[] Code, float[] Dx) RunTwoBit(string op, float[] x, float[] dy, int threads)
    {
        var type = KernelElementType.Float32;
        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, [x.Length]), threads);
        var outputs = runner.Run(("X", type.CreateTensor(x, [x.Length])), ("dY", type.CreateTensor(dy, [dy.Length])));
        return (type.ReadFloats(outputs["Y"]), outputs["Code"].GetTensorDataAsSpan<byte>().ToArray(), type.ReadFloats(outputs["dX"]));
    }

    private static float[][] RunNorm(string op, long[] shape, float[] x, float[] g, int threads)
    {
        var type = KernelElementType.Float32;
        using var runner = new KernelRunner(KernelRunner.NormPair(op, type, shape, -1, 1e-5f), threads);
        var outputs = runner.Run(("X", type.CreateTensor(x, shape)), ("dZ", type.CreateTensor(g, shape)));
        return [type.ReadFloats(outputs["Z"]), type.ReadFloats(outputs["InvStdDev"]), type.ReadFloats(outputs["dX"])];
    }
}
