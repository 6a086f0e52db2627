namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// The real models the conformance tests run over: every .onnx under ../shared/onnx-testdata and
/// the project's checked-in fixtures. When ../shared is absent the theory still gets one row, which
/// skips with the reason (an xunit theory without rows would fail instead).
/// </summary>
public static class ModelCorpus
{
    public const string Absent = "(../shared/onnx-testdata absent)";

    public static TheoryData<string> SharedModels()
    {
        var data = new TheoryData<string>();
        foreach (string model in SharedTestData.AllModels()) data.Add(model);
        if (data.Count == 0) data.Add(Absent);
        return data;
    }

    /// <summary>Full path of a shared model row; skips the test when the folder is absent.</summary>
    public static string Resolve(string row)
    {
        Skip.If(row == Absent, "../shared/onnx-testdata is absent (a clone without ../shared)");
        return SharedTestData.RequireFile(row);
    }

    public static TheoryData<string> FixtureModels()
    {
        var data = new TheoryData<string>();
        string folder = Path.Combine(SharedTestData.RepoRoot, "fixtures", "models");
        if (Directory.Exists(folder))
        {
            foreach (string file in Directory.EnumerateFiles(folder, "*.onnx").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetFileName(file));
            }
        }
        return data;
    }
}
