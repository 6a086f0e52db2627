namespace OnnxMemOpt.Tests.Kernels;

/// <summary>The float64 reference itself, checked against published values of the normal CDF and erfc.</summary>
public class KernelReferenceTests
{
    [Theory]
    [InlineData(-10.0, 7.6198530241605261e-24)]
    [InlineData(-5.0, 2.8665157187919391e-7)]
    [InlineData(-3.0, 0.0013498980316300945)]
    [InlineData(-1.0, 0.15865525393145705)]
    [InlineData(0.5, 0.6914624612740131)]
    [InlineData(1.0, 0.84134474606854295)]
    public void NormalCdfMatchesPublishedValues(double x, double expected) =>
        Assert.True(Math.Abs(KernelReference.NormalCdf(x) - expected) <= 1e-13 * expected, $"Phi({x}) = {KernelReference.NormalCdf(x):R}");

    [Theory]
    [InlineData(2.5, 0.00040695201744495894)]
    [InlineData(5.0, 1.5374597944280349e-12)]
    public void ErfcMatchesPublishedValues(double t, double expected) =>
        Assert.True(Math.Abs(KernelReference.Erfc(t) - expected) <= 1e-13 * expected, $"erfc({t}) = {KernelReference.Erfc(t):R}");
}
