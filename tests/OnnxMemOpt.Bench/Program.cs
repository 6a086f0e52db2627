using BenchmarkDotNet.Running;
using OnnxMemOpt.Bench.Kernels;

namespace OnnxMemOpt.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Contains(QuickKernelBandwidth.Flag))
        {
            return QuickKernelBandwidth.Run(args);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
