namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// Finds the repository root and the real ONNX graphs in ../shared/onnx-testdata. Tests that read
/// them call <see cref="RequireFile"/> inside a [SkippableFact]/[SkippableTheory]: a user's clone has
/// no ../shared, and there the test is skipped with the reason instead of failing.
/// </summary>
public static class SharedTestData
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "onnx-testdata"));

    public static bool Available => Directory.Exists(Root);

    /// <summary>Full path of a file under onnx-testdata; skips the calling test when it is absent.</summary>
    public static string RequireFile(string relativePath)
    {
        string path = Path.Combine(Root, relativePath);
        Skip.IfNot(File.Exists(path) || Directory.Exists(path), $"../shared/onnx-testdata/{relativePath} is absent (a clone without ../shared)");
        return path;
    }

    /// <summary>Every .onnx file under onnx-testdata, relative to it; empty when the folder is absent.</summary>
    public static IEnumerable<string> AllModels() =>
        Available
            ? Directory.EnumerateFiles(Root, "*.onnx", SearchOption.AllDirectories)
                .Select(p => Path.GetRelativePath(Root, p))
                .Order(StringComparer.Ordinal)
            : [];

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OnnxMemOpt.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"OnnxMemOpt.sln not found above {AppContext.BaseDirectory}");
    }
}
