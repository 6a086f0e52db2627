using System.Runtime.InteropServices;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// Chooses which CPU code path the library's forward activations take: the hand-written AVX-512
/// one (where the CPU has it) or the portable, compiler-vectorised one. Both must meet the same
/// accuracy contract, and a test machine with AVX-512 would otherwise only ever run the first.
/// Calls the library's exported OnnxMemOptForcePortableCpuKernels, a process-wide switch: tests
/// that use it restore the previous setting on dispose, and belong to the
/// <see cref="CpuKernelPathCollection"/>, which never runs beside other tests (the two paths may
/// differ in the last bit, and some tests compare two runs bit for bit).
/// </summary>
public sealed unsafe class CpuKernelPath : IDisposable
{
    private static readonly Lazy<nint> Switch = new(() =>
        NativeLibrary.GetExport(NativeLibrary.Load(CustomOps.CustomOpLibrary.Path), "OnnxMemOptForcePortableCpuKernels"));

    private readonly int _previous;

    private CpuKernelPath(bool portable)
    {
        _previous = Set(portable ? 1 : 0);
    }

    public static CpuKernelPath Force(bool portable) => new(portable);

    public void Dispose() => Set(_previous);

    private static int Set(int portable) => ((delegate* unmanaged<int, int>)Switch.Value)(portable);
}

/// <summary>Tests that switch the CPU code path: run alone, never in parallel with other tests.</summary>
[CollectionDefinition(nameof(CpuKernelPathCollection), DisableParallelization = true)]
public sealed class CpuKernelPathCollection;
