using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Fuzz;

/// <summary>
/// Feeds mutated models to every command and checks the contract for hostile input: no crash, no
/// unhandled exception (exit code 1), no hang over 10 s; a refused input gets exit code 3, one line
/// naming the file, and no output file; an accepted one that ONNX Runtime could load still loads
/// after rewriting. CI runs 2,000 mutants; `build.ps1 fuzz-long` runs 50,000
/// (ONNXMEMOPT_FUZZ_CASES). ONNXMEMOPT_FUZZ_SEED picks the random stream.
/// </summary>
[Trait("Category", "Fuzz")]
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);
    private const int MaxOrtChecks = 150;

    /// <summary>
    /// The commands a mutant goes through, with how often (every Nth case): the cheap ones on every
    /// mutant, training-graph building and verification (which run ONNX Runtime) on a sample so
    /// the CI-sized run stays within its budget. {in}, {out} and {prev} (the last output kept) are
    /// substituted.
    /// </summary>
    private static readonly (int Every, string[] Args)[] Commands =
    [
        (1, ["inspect", "{in}", "--json"]),
        (1, ["rewrite", "{in}", "-o", "{out}", "--passes", "none", "--json"]),
        (1, ["fuse", "{in}", "-o", "{out}", "--json"]),
        (5, ["train-graph", "{in}", "-o", "{out}", "--trainable", "lora", "--json"]),
        (1, ["rewrite", "{in}", "-o", "{out}", "--json"]),
        (20, ["verify", "{in}", "{prev}", "--json"]),
    ];

    [Fact]
    public async Task MutatedModelsNeverCrashHangOrLeaveBrokenOutputs()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("ONNXMEMOPT_FUZZ_CASES"), out int n) ? n : 2000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("ONNXMEMOPT_FUZZ_SEED"), out int s) ? s : 20240616;
        var random = new Random(seed);
        List<byte[]> seeds = SeedModels();
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>();
        int ortChecks = 0;
        using var temp = new TempDirectory();

        for (int i = 0; i < cases && failures.Count < 20; i++)
        {
            var mutator = new ModelMutator(seeds[random.Next(seeds.Count)], random);
            var (kind, bytes, sideFiles) = mutator.Next();
            string folder = Path.Combine(temp.Path, $"case{i}");
            Directory.CreateDirectory(folder);
            string input = Path.Combine(folder, "model.onnx");
            File.WriteAllBytes(input, bytes);
            foreach (var (name, content) in sideFiles) File.WriteAllBytes(Path.Combine(folder, name), content);
            string outputPath = Path.Combine(folder, "out", "rewritten.onnx");
            Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);

            string previous = Path.Combine(folder, "previous.onnx");
            foreach (var (every, template) in Commands)
            {
                if (i % every != 0 || (template.Contains("{prev}") && !File.Exists(previous)))
                {
                    continue;
                }
                string[] args = template.Select(a => a.Replace("{in}", input).Replace("{out}", outputPath).Replace("{prev}", previous)).ToArray();
                string label = $"case {i} ({kind}) {args[0]}";
                var run = Task.Run(() => CliRunner.Run(args));
                if (await Task.WhenAny(run, Task.Delay(Budget)) != run)
                {
                    failures.Add($"{label}: no answer within {Budget.TotalSeconds} s");
                    continue;
                }
                CliRunner.Result result = await run;
                string key = $"{kind}/{args[0]}/{result.ExitCode}";
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                string? problem = CheckContract(result, args[0] == "verify" ? [input, previous] : [input], outputPath, args[0] is "rewrite" or "fuse" or "train-graph");
                if (problem is not null) failures.Add($"{label}: {problem} (mutant kept as {KeepForReproduction(input, i, kind)})");
                if (result.ExitCode == 0 && args[0] is "rewrite" or "fuse" && ortChecks < MaxOrtChecks && OrtLoads(input))
                {
                    ortChecks++;
                    if (!OrtLoads(outputPath)) failures.Add($"{label}: ONNX Runtime loads the input but not the rewritten model (mutant kept as {KeepForReproduction(input, i, kind)})");
                }
                if (File.Exists(outputPath)) File.Move(outputPath, previous, overwrite: true);
            }
            Directory.Delete(folder, recursive: true);
        }

        foreach (var (key, count) in outcomes.OrderBy(p => p.Key, StringComparer.Ordinal)) output.WriteLine($"{key}: {count}");
        output.WriteLine($"{cases} mutants, {ortChecks} ONNX Runtime load checks, seed {seed}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string? CheckContract(CliRunner.Result result, string[] inputs, string outputPath, bool writesOutput)
    {
        switch (result.ExitCode)
        {
            case 0:
                return writesOutput && !File.Exists(outputPath) ? "exit 0 but no output file" : null;
            case 3:
                string message = result.Stderr.TrimEnd('\n');
                if (message.Length == 0) return "exit 3 without a message";
                if (message.Contains('\n')) return $"message is not one line: {message}";
                if (!inputs.Any(message.Contains)) return $"message does not name the file: {message}";
                if (File.Exists(outputPath)) return "exit 3 but an output file exists";
                if (Directory.EnumerateFiles(Path.GetDirectoryName(outputPath)!, "*.tmp").Any()) return "a temporary file was left behind";
                return null;
            default:
                return $"exit {result.ExitCode}: {result.Stderr.Trim()}";
        }
    }

    /// <summary>Copies a failing mutant out of the scratch folder so the failure can be replayed by hand.</summary>
    private static string KeepForReproduction(string input, int index, string kind)
    {
        string folder = Path.Combine(Path.GetTempPath(), "onnxmemopt-fuzz-failures");
        Directory.CreateDirectory(folder);
        string kept = Path.Combine(folder, $"case{index}-{kind}.onnx");
        File.Copy(input, kept, overwrite: true);
        return kept;
    }

    private static bool OrtLoads(string path)
    {
        try
        {
            using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            using var session = new InferenceSession(path, options);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
    }

    private static List<byte[]> SeedModels()
    {
        var seeds = Directory.EnumerateFiles(Path.Combine(SharedTestData.RepoRoot, "fixtures", "models"), "*.onnx")
            .Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        // Small real graphs when ../shared is present; the large ones would only slow the loop.
        seeds.AddRange(SharedTestData.AllModels()
            .Select(m => Path.Combine(SharedTestData.Root, m))
            .Where(p => new FileInfo(p).Length < 300_000)
            .Select(File.ReadAllBytes));
        return seeds;
    }
}
