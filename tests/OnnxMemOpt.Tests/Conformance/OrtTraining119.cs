using System.Diagnostics;
using System.Text.Json;
using OnnxMemOpt.Runtime.Training;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Conformance;

/// <summary>
/// ONNX Runtime Training 1.19.2 itself, as the reference engine: tests/conformance/ort-1.19/train.mjs
/// run by node over onnxruntime-web 1.19.2's training build, which `.ci/run` restores there with
/// `npm ci` from the pinned package-lock.json. Tests call <see cref="Require"/> first: without node
/// or the restored package they skip with the reason; nothing is installed at test time.
/// </summary>
internal static class OrtTraining119
{
    public const string PinnedVersion = "1.19.2";

    public static string Folder => Path.Combine(SharedTestData.RepoRoot, "tests", "conformance", "ort-1.19");

    private static readonly Lazy<string?> Unavailable = new(FindProblem);

    /// <summary>Skips the calling test when the reference engine cannot run here.</summary>
    public static void Require() => Skip.If(Unavailable.Value is not null, Unavailable.Value);

    /// <summary>The files of one artifact set as ONNX Runtime's TrainingSession takes them.</summary>
    public sealed record ArtifactFiles(string TrainingModel, string Checkpoint, string OptimizerModel, string? EvalModel)
    {
        public static ArtifactFiles Of(TrainingArtifacts artifacts) => new(
            artifacts.TrainingModelPath,
            artifacts.CheckpointPath,
            artifacts.OptimizerModelPath ?? throw new InvalidOperationException($"{artifacts.TrainingModelPath} has no optimizer model"),
            artifacts.EvalModelPath);
    }

    /// <summary>What one reference run printed; <see cref="Eval"/> holds the eval model's outputs in its output order.</summary>
    public sealed record Run(IReadOnlyList<double> Losses, IReadOnlyList<double[]> Eval);

    /// <summary>Trains <paramref name="steps"/> steps of ORT's loop (train step, optimizer step, lazy reset) on the feed file's batch.</summary>
    /// <param name="trainStepsPerUpdate">Train steps before each optimizer step (their gradients add up); every train step's loss is returned.</param>
    public static Run Train(ArtifactFiles files, string feedFile, int steps, bool evaluate = false, int trainStepsPerUpdate = 1)
    {
        var arguments = new List<string>
        {
            Path.Combine(Folder, "train.mjs"),
            "--train", files.TrainingModel,
            "--checkpoint", files.Checkpoint,
            "--optimizer", files.OptimizerModel,
            "--feed", feedFile,
            "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--train-steps-per-update", trainStepsPerUpdate.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (evaluate)
        {
            arguments.AddRange(["--eval", files.EvalModel ?? throw new InvalidOperationException("the set has no eval model")]);
        }
        var (code, stdout, stderr) = Node(arguments, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"ONNX Runtime Training {PinnedVersion} failed ({code}): {stderr}");
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.StartsWith($"onnxruntime-web {PinnedVersion} training", json.RootElement.GetProperty("engine").GetString());
        double[] losses = json.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToArray();
        var eval = new List<double[]>();
        if (json.RootElement.TryGetProperty("eval", out JsonElement outputs))
        {
            eval.AddRange(outputs.EnumerateArray().Select(o => o.EnumerateArray().Select(v => v.GetDouble()).ToArray()));
        }
        return new Run(losses, eval);
    }

    private static string? FindProblem()
    {
        string package = Path.Combine(Folder, "node_modules", "onnxruntime-web");
        if (!File.Exists(Path.Combine(package, "dist", "ort.training.wasm.mjs")))
        {
            return $"ONNX Runtime Training {PinnedVersion} is not restored: run `npm ci` in {Folder} (.ci/run does)";
        }
        using (JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(package, "package.json"))))
        {
            string? version = manifest.RootElement.GetProperty("version").GetString();
            if (version != PinnedVersion)
            {
                return $"{package} is onnxruntime-web {version}, not the pinned {PinnedVersion}: run `npm ci` in {Folder}";
            }
        }
        try
        {
            var (code, _, stderr) = Node(["--version"], TimeSpan.FromSeconds(30));
            return code == 0 ? null : $"node --version failed: {stderr}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"node is not on PATH ({e.Message}); ONNX Runtime Training {PinnedVersion} runs under node 18+";
        }
    }

    private static (int Code, string Stdout, string Stderr) Node(IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Folder,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {string.Join(' ', arguments)} ran past {timeout}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
