using Google.Protobuf;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// The fixtures are byte-for-byte deterministic, and the copies under fixtures/models are exactly what
/// the builder makes today. After a deliberate builder change, regenerate them with
/// ONNXMEMOPT_UPDATE_FIXTURES=1 (see fixtures/README.md); the test then rewrites the files and passes.
/// </summary>
public sealed class CheckedInFixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> CheckedIn => [.. FixtureCatalog.CheckedIn];

    [Theory]
    [MemberData(nameof(CheckedIn))]
    public void BuildingTwiceGivesIdenticalBytes(string name)
    {
        byte[] first = FixtureCatalog.BuildBytes(name);
        byte[] second = FixtureCatalog.BuildBytes(name);
        Assert.Equal(first, second);
    }

    [Theory]
    [MemberData(nameof(CheckedIn))]
    public void CheckedInCopyEqualsFreshBuild(string name)
    {
        string path = Path.Combine(SharedTestData.RepoRoot, FixtureCatalog.CheckedInRelativePath(name));
        byte[] fresh = FixtureCatalog.BuildBytes(name);
        if (Environment.GetEnvironmentVariable("ONNXMEMOPT_UPDATE_FIXTURES") == "1")
        {
            FixtureCatalog.Write(name, path);
            output.WriteLine($"rewrote {path} ({fresh.Length} bytes)");
        }

        Assert.True(File.Exists(path), $"{path} is missing: run this test with ONNXMEMOPT_UPDATE_FIXTURES=1");
        byte[] checkedIn = File.ReadAllBytes(path);
        output.WriteLine($"{name}: {checkedIn.Length} bytes");
        Assert.True(checkedIn.Length < 1 << 20, $"{name} is {checkedIn.Length} bytes; checked-in fixtures stay under 1 MB");
        Assert.True(fresh.AsSpan().SequenceEqual(checkedIn),
            $"{path} differs from a fresh build: if the builder changed on purpose, rerun with ONNXMEMOPT_UPDATE_FIXTURES=1");
    }

    [Fact]
    public void WriteProducesTheSerializedModel()
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxmemopt-fixture-{Environment.ProcessId}", "llama-tiny.onnx");
        try
        {
            FixtureCatalog.Write("llama-tiny", path);
            Assert.Equal(FixtureCatalog.Build("llama-tiny").ToByteArray(), File.ReadAllBytes(path));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void UnknownPresetIsRejected() =>
        Assert.Throws<ArgumentException>(() => FixtureCatalog.Build("gpt-5"));
}
