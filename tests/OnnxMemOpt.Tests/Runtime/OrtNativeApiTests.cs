using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>
/// Proves the OrtApi slot indices in <see cref="OrtNativeApi"/>: each slot is called and must behave
/// as the function the header puts there. A miscounted slot would call a different function and fail
/// (or crash) here rather than silently report wrong memory figures.
/// </summary>
public sealed class OrtNativeApiTests
{
    [Fact]
    public void RuntimeIsTheRestoredPackageVersion()
    {
        Assert.Equal("1.31.1", OrtNativeApi.RuntimeVersion);
    }

    [Fact]
    public void BuildInfoSlotReturnsTheBuildInfoString()
    {
        // GetBuildInfoString (slot 254) returns "ORT Build Info: git-branch=..., git-commit-id=...".
        string info = OrtNativeApi.BuildInfo();
        Assert.StartsWith("ORT Build Info", info, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyValuePairSlotsRoundTrip()
    {
        // CreateKeyValuePairs 295, AddKeyValuePair 296, GetKeyValue 297, GetKeyValuePairs 298,
        // ReleaseKeyValuePairs 300: a miscount would return nothing or other strings.
        nint pairs = OrtNativeApi.CreatePairs();
        try
        {
            Assert.NotEqual(0, pairs);
            OrtNativeApi.AddPair(pairs, "alpha", "1");
            OrtNativeApi.AddPair(pairs, "beta", "two");
            OrtNativeApi.AddPair(pairs, "alpha", "3");
            Assert.Equal("3", OrtNativeApi.GetValue(pairs, "alpha"));
            Assert.Equal("two", OrtNativeApi.GetValue(pairs, "beta"));
            Assert.Null(OrtNativeApi.GetValue(pairs, "gamma"));
            var all = OrtNativeApi.ReadPairs(pairs);
            Assert.Equal(new Dictionary<string, string> { ["alpha"] = "3", ["beta"] = "two" }, all);
        }
        finally
        {
            OrtNativeApi.ReleasePairs(pairs);
        }
    }

    [Fact]
    public void AllocatorGetStatsSlotReturnsArenaKeys()
    {
        using var session = OrtRunner.CreateSession(ChainModel(64), registerLibrary: false);
        ArenaStats stats = PeakMemory.Read(session);
        Assert.True(stats.IsAvailable);
        foreach (string key in new[] { "Limit", "InUse", "TotalAllocated", "MaxInUse", "NumAllocs", "NumReserves", "NumArenaExtensions", "NumArenaShrinkages", "MaxAllocSize" })
        {
            Assert.Contains(key, stats.Raw.Keys);
        }
    }

    [Fact]
    public void NonArenaAllocatorReportsNoStats()
    {
        // ORT's default CPU allocator is not an arena: AllocatorGetStats succeeds with no entries.
        ArenaStats stats = PeakMemory.Read(OrtAllocator.DefaultInstance);
        Assert.False(stats.IsAvailable);
        Assert.Empty(stats.Raw);
    }

    /// <summary>X[B,256] → MatMul W → Relu → MatMul W → Y: intermediates of B·256 floats.</summary>
    internal static byte[] ChainModel(int width)
    {
        var random = new Random(7);
        float[] weights = Enumerable.Range(0, width * width).Select(_ => (float)(random.NextDouble() - 0.5) / width).ToArray();
        return new TinyModel()
            .Input("X", TensorProto.Types.DataType.Float, null, width)
            .Output("Y", TensorProto.Types.DataType.Float, null, width)
            .Initializer(TinyModel.FloatTensor("W", [width, width], weights))
            .Node("MatMul", ["X", "W"], ["H1"])
            .Node("Relu", ["H1"], ["H2"])
            .Node("MatMul", ["H2", "W"], ["Y"])
            .ToBytes();
    }
}
