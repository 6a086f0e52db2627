using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>
/// The rule of docs/robustness.md: a model that ONNX Runtime loads never gets exit code 1 from any
/// command. Every command runs over every such model the project has (fixtures/models, the exporter
/// corpus fixtures/exported when present, ../shared/onnx-testdata when present): each answer is
/// exit 0, or exit 3 with one line naming the file and no output left; every model written with
/// exit 0 loads in ONNX Runtime.
/// </summary>
public class NoInternalErrorTests(ITestOutputHelper output)
{
    /// <summary>Real graphs above this size would only slow the suite; the small ones hold every op form.</summary>
    private const long MaxModelBytes = 2_000_000;

    public static TheoryData<string> Models()
    {
        var data = new TheoryData<string>();
        foreach (string folder in new[] { "fixtures/models", "fixtures/exported" })
        {
            string path = Path.Combine(SharedTestData.RepoRoot, folder);
            if (!Directory.Exists(path)) continue;
            foreach (string file in Directory.EnumerateFiles(path, "*.onnx").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(SharedTestData.RepoRoot, file));
            }
        }
        foreach (string model in SharedTestData.AllModels())
        {
            data.Add(Path.Combine("..", "shared", "onnx-testdata", model));
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void EveryCommandAnswersWithoutAnInternalError(string relativePath)
    {
        string model = Path.GetFullPath(Path.Combine(SharedTestData.RepoRoot, relativePath));
        Skip.If(new FileInfo(model).Length > MaxModelBytes, $"{relativePath} is over {MaxModelBytes} bytes");
        Skip.IfNot(OrtLoads(model), $"ONNX Runtime does not load {relativePath}: the rule is about models it loads");
        using var temp = new TempDirectory();
        string fused = temp.File("fused.onnx"), rewritten = temp.File("rewritten.onnx"), training = temp.File("training.onnx"), trainingRewritten = temp.File("training-rewritten.onnx");
        var failures = new List<string>();

        Check(failures, [model], null, "inspect", model, "--json");
        Check(failures, [model], fused, "fuse", model, "-o", fused, "--json");
        Check(failures, [model], rewritten, "rewrite", model, "-o", rewritten, "--json");
        Check(failures, [model], training, "train-graph", model, "-o", training, "--trainable", "lora", "--json");
        Check(failures, [model], null, "gradcheck", model, "--params", "2", "--json");
        Check(failures, [model], null, "bench", model, "--steps", "1", "--batch", "2", "--seq", "8", "--trainable", "full", "--json");
        Check(failures, [model], null, "train", model, "--steps", "1", "--json");
        if (File.Exists(rewritten))
        {
            Check(failures, [model, rewritten], null, "verify", model, rewritten, "--json");
        }
        if (File.Exists(training))
        {
            Check(failures, [training], trainingRewritten, "rewrite", training, "-o", trainingRewritten, "--json");
            Check(failures, [training], null, "gradcheck", training, "--params", "2", "--json");
            if (File.Exists(trainingRewritten))
            {
                Check(failures, [training, trainingRewritten], null, "verify", training, trainingRewritten, "--json");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Runs one command and adds what breaks the contract to <paramref name="failures"/>; the outcome is logged either way.</summary>
    private void Check(List<string> failures, string[] inputs, string? writes, params string[] args)
    {
        CliRunner.Result result = CliRunner.Run(args);
        string label = $"{args[0]} {Path.GetFileName(inputs[0])}";
        string message = result.Stderr.TrimEnd('\n');
        output.WriteLine($"{label}: exit {result.ExitCode}{(message.Length > 0 ? ": " + message : "")}");
        switch (result.ExitCode)
        {
            case 0:
                if (writes is not null && !OrtLoads(writes)) failures.Add($"{label}: exit 0, but ONNX Runtime does not load the output");
                break;
            case 3:
                if (message.Length == 0 || message.Contains('\n')) failures.Add($"{label}: exit 3 without a one-line reason: {message}");
                else if (!inputs.Any(message.Contains)) failures.Add($"{label}: the reason does not name the file: {message}");
                if (writes is not null && File.Exists(writes)) failures.Add($"{label}: exit 3 left an output");
                break;
            default:
                failures.Add($"{label}: exit {result.ExitCode}: {message}");
                break;
        }
    }

    private static bool OrtLoads(string path)
    {
        try
        {
            using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            using var session = new InferenceSession(path, options);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
    }
}
