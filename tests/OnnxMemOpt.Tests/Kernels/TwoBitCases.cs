namespace OnnxMemOpt.Tests.Kernels;

/// <summary>The two-bit activations every kernel test covers: ReGelu2, ReSilu2 and x·σ(1.702x), at every element type.</summary>
public static class TwoBitCases
{
    public static TheoryData<string, float, KernelElementType> EveryOpAlphaAndType()
    {
        var data = new TheoryData<string, float, KernelElementType>();
        foreach (KernelElementType type in Enum.GetValues<KernelElementType>())
        {
            data.Add("ReGelu2", 1.0f, type);
            data.Add("ReSilu2", 1.0f, type);
            data.Add("ReSilu2", 1.702f, type);
        }
        return data;
    }
}
