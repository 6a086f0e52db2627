namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// Checked-in text snapshots under fixtures/snapshots. A missing or different snapshot fails the
/// test; ONNXMEMOPT_UPDATE_SNAPSHOTS=1 writes them anew instead (then review the diff). A fresh
/// clone never creates one silently: a missing file is a failure, not a first run.
/// </summary>
public static class TextSnapshot
{
    public static string Folder => Path.Combine(SharedTestData.RepoRoot, "fixtures", "snapshots");

    public static bool Updating => Environment.GetEnvironmentVariable("ONNXMEMOPT_UPDATE_SNAPSHOTS") == "1";

    public static void Match(string name, string actual)
    {
        string path = Path.Combine(Folder, name);
        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"snapshot {name} is missing; run the test with ONNXMEMOPT_UPDATE_SNAPSHOTS=1 to write it");
        string expected = File.ReadAllText(path);
        if (expected != actual)
        {
            // Name the first differing line: the whole texts are thousands of lines.
            string[] want = expected.Split('\n'), got = actual.Split('\n');
            int line = Enumerable.Range(0, Math.Min(want.Length, got.Length)).FirstOrDefault(i => want[i] != got[i], Math.Min(want.Length, got.Length));
            Assert.Fail($"{name} differs from its snapshot at line {line + 1}:\n  snapshot: {(line < want.Length ? want[line] : "<end>")}\n  actual:   {(line < got.Length ? got[line] : "<end>")}\n(ONNXMEMOPT_UPDATE_SNAPSHOTS=1 writes it anew)");
        }
    }
}
