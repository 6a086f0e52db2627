using System.Text.RegularExpressions;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>
/// The command line stays a thin layer over the libraries: it parses options, calls the API and
/// renders. Sessions, feeds and tensors belong to OnnxMemOpt.Runtime, where a library user can call
/// them too; a command that opens its own session is logic the API does not offer.
/// </summary>
public sealed partial class ThinCliTests
{
    [GeneratedRegex(@"\b(InferenceSession|SessionOptions|RunOptions|OrtValue|NamedOnnxValue|DisposableNamedOnnxValue|DenseTensor|OrtIoBinding)\b")]
    private static partial Regex SessionTypes();

    [Fact]
    public void NoCommandOpensSessionsOrBuildsTensorsOfItsOwn()
    {
        string cli = Path.Combine(SharedTestData.RepoRoot, "src", "Cli");
        var files = Directory.GetFiles(cli, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count > 20, $"only {files.Count} sources found under {cli}");
        var offenders = files
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(cli, f), Line: i + 1, Text: line)))
            .Where(l => !l.Text.TrimStart().StartsWith("//", StringComparison.Ordinal) && SessionTypes().IsMatch(l.Text))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToList();
        Assert.True(offenders.Count == 0, "session code in src/Cli:" + Environment.NewLine + string.Join(Environment.NewLine, offenders));
    }
}
