using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// What the forward ops keep for the backward pass, which is the whole point of the method:
/// 2-bit codes (ceil(N/4) bytes, 0.25 bytes per element whatever the element type) for the
/// activations, and for the norms only Z plus one float32 per row.
/// </summary>
public class SavedTensorTests
{
    [Theory]
    [InlineData("ReGelu2", KernelElementType.Float32)]
    [InlineData("ReGelu2", KernelElementType.Float16)]
    [InlineData("ReGelu2", KernelElementType.BFloat16)]
    [InlineData("ReSilu2", KernelElementType.Float32)]
    [InlineData("ReSilu2", KernelElementType.Float16)]
    [InlineData("ReSilu2", KernelElementType.BFloat16)]
    public void ActivationsKeepQuarterByteCodes(string op, KernelElementType type)
    {
        long[] shape = [8, 1024, 3];
        int n = 8 * 1024 * 3;
        using var runner = new KernelRunner(KernelRunner.TwoBitPair(op, type, shape));
        var outputs = runner.Run(("X", type.CreateTensor(TestData.Normal(n, 5), shape)), ("dY", type.CreateTensor(new float[n], shape)));
        var code = outputs["Code"];
        Assert.Equal(TensorElementType.UInt8, KernelRunner.ElementType(code));
        Assert.Equal([n / 4], KernelRunner.Shape(code));
        Assert.Equal(0.25, (double)code.GetTensorDataAsSpan<byte>().Length / n);
    }

    [Theory]
    [InlineData(4097)]
    [InlineData(1)]
    [InlineData(6)]
    public void CodeLengthRoundsUp(int n)
    {
        using var runner = new KernelRunner(KernelRunner.TwoBitPair("ReGelu2", KernelElementType.Float32, [n]));
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(n, 9), [n])), ("dY", KernelElementType.Float32.CreateTensor(new float[n], [n])));
        Assert.Equal([(n + 3) / 4], KernelRunner.Shape(outputs["Code"]));
    }

    [Theory]
    [InlineData("MsLayerNorm", KernelElementType.Float32)]
    [InlineData("MsRmsNorm", KernelElementType.Float16)]
    [InlineData("MsLayerNorm", KernelElementType.BFloat16)]
    public void NormsKeepOutputAndOneFloatPerRow(string op, KernelElementType type)
    {
        long[] shape = [2, 5, 768];
        int n = 2 * 5 * 768;
        using var runner = new KernelRunner(KernelRunner.NormPair(op, type, shape, -1, 1e-5f));
        Assert.Equal(2, runner.Session.OutputNames.Count(name => name is "Z" or "InvStdDev"));
        var outputs = runner.Run(("X", type.CreateTensor(TestData.Normal(n, 2), shape)), ("dZ", type.CreateTensor(new float[n], shape)));
        Assert.Equal(shape, KernelRunner.Shape(outputs["Z"]));
        Assert.Equal(KernelRunner.ElementType(outputs["dX"]), KernelRunner.ElementType(outputs["Z"]));
        Assert.Equal(TensorElementType.Float, KernelRunner.ElementType(outputs["InvStdDev"]));
        Assert.Equal([2, 5, 1], KernelRunner.Shape(outputs["InvStdDev"]));
    }

    [Fact]
    public void NormWithLeadingAxisKeepsOneFloatPerLeadingRow()
    {
        long[] shape = [3, 4, 5];
        using var runner = new KernelRunner(KernelRunner.NormPair("MsRmsNorm", KernelElementType.Float32, shape, 1, 1e-5f));
        var outputs = runner.Run(("X", KernelElementType.Float32.CreateTensor(TestData.Normal(60, 3), shape)), ("dZ", KernelElementType.Float32.CreateTensor(new float[60], shape)));
        Assert.Equal([3, 1, 1], KernelRunner.Shape(outputs["InvStdDev"]));
    }
}
