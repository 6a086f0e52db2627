using System.Text.Json;
using OnnxMemOpt.Runtime.Models;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Onnx;

/// <summary>
/// `rewrite --passes none` parses into the IR and serialises again; the output must equal the input
/// byte for byte (the schema keeps ONNX's wire encodings and unknown fields). `inspect --json`'s op
/// counts must equal an independent count read straight from the wire format.
/// </summary>
public class RoundTripTests
{
    [SkippableTheory]
    [MemberData(nameof(ModelCorpus.SharedModels), MemberType = typeof(ModelCorpus))]
    public void SharedModelRewritesByteIdentical(string model) => AssertByteIdentical(ModelCorpus.Resolve(model));

    [SkippableTheory]
    [MemberData(nameof(ModelCorpus.SharedModels), MemberType = typeof(ModelCorpus))]
    public void SharedModelOpCountsMatchIndependentCount(string model) => AssertOpCounts(ModelCorpus.Resolve(model));

    [Theory]
    [MemberData(nameof(ModelCorpus.FixtureModels), MemberType = typeof(ModelCorpus))]
    public void FixtureRewritesByteIdenticalAndCountsMatch(string fixture)
    {
        string path = Path.Combine(SharedTestData.RepoRoot, "fixtures", "models", fixture);
        AssertByteIdentical(path);
        AssertOpCounts(path);
    }

    [Fact]
    public void MiniLmRewritesByteIdenticalAndCountsMatch()
    {
        using var temp = new TempDirectory();
        string path = MiniLmModel.ExtractTo(temp.File("minilm"));
        AssertByteIdentical(path);
        Dictionary<string, int> counts = AssertOpCounts(path);
        // The exported encoder has 6 layers, each with decomposed erf-GELU and two LayerNorm chains.
        Assert.Equal(6, counts["Erf"]);
        Assert.True(counts["ReduceMean"] >= 2 * 13, "expected ReduceMean pairs for 13 LayerNorms");
    }

    private static void AssertByteIdentical(string path)
    {
        using var temp = new TempDirectory();
        string output = temp.File("out.onnx");
        CliRunner.Result result = CliRunner.Run("rewrite", path, "-o", output, "--passes", "none");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    private static Dictionary<string, int> AssertOpCounts(string path)
    {
        CliRunner.Result result = CliRunner.Run("inspect", path, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        var reported = json.RootElement.GetProperty("op_counts").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        SortedDictionary<string, int> independent = RawOpCounter.Count(File.ReadAllBytes(path));
        Assert.Equal(independent, new SortedDictionary<string, int>(reported, StringComparer.Ordinal));
        Assert.NotEmpty(reported);
        return reported;
    }
}
