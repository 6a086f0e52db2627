using System.Globalization;
using System.Text.Json.Nodes;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Corpus;

/// <summary>How much of the matrix a model gets: every command, or the sampled subset.</summary>
public enum MatrixTier
{
    /// <summary>fuse; train-graph lora-qv, lora-all, full; gradcheck of each; rewrite (and --fold-trainable-affine for full); verify; bench.</summary>
    Full,

    /// <summary>fuse; train-graph lora-qv; rewrite; verify.</summary>
    Sampled,
}

/// <summary>One command's outcome on one model.</summary>
public sealed record CommandOutcome(string Step, int ExitCode, string Stderr, JsonNode? Json, double Seconds);

/// <summary>What one trainable set went through: its training graph, rewrite and verify.</summary>
public sealed record TrainableSetRow(
    string Set,
    IReadOnlyList<string> Passes,
    IReadOnlyList<string> Skipped,
    double? GradcheckMaxRelErr,
    double? ForwardMaxRelDiff,
    double? ExactGradientMaxRelErr,
    double? MethodGradientMaxRelErr);

/// <summary>One model's row: each command's exit code and the figures the limits apply to.</summary>
public sealed record ConformanceRow(string Model, MatrixTier Tier, IReadOnlyList<CommandOutcome> Commands, IReadOnlyList<TrainableSetRow> Sets,
    bool HasGeluOrSilu, bool HasQuickGeluOrSilu, bool HasNorm, bool HasRmsNorm, double? BenchPeakRatio, double? BenchTimeRatio)
{
    public double Seconds => Commands.Sum(c => c.Seconds);
}

/// <summary>
/// Runs the CLI (in process, through <see cref="CliRunner"/>) on one exported model the way a user
/// would, with the batch and sequence dims left symbolic in the files, and collects what the
/// conformance limits are checked against (<see cref="ConformanceLimits"/>).
/// </summary>
public static class ConformanceMatrix
{
    /// <summary>Where the checked-in corpus lives (scripts/export_corpus.py writes it).</summary>
    public static string CorpusDirectory => Path.Combine(SharedTestData.RepoRoot, "fixtures", "exported");

    public static IReadOnlyList<string> Models() =>
        Directory.GetFiles(CorpusDirectory, "*.onnx").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();

    /// <summary>The full matrix on the opset-17 fp32 exports (eval and training mode, no shared constants); the sampled one on the rest.</summary>
    public static MatrixTier TierOf(string model) =>
        model.Contains("-opset17-", StringComparison.Ordinal) && model.EndsWith("-fp32.onnx", StringComparison.Ordinal) ? MatrixTier.Full : MatrixTier.Sampled;

    /// <summary>The LoRA targets of `bench`'s lora-qv on an exported model, by layer name.</summary>
    public static string QueryValueTargets => OnnxMemOpt.Runtime.Bench.BenchModel.ExportedQueryValueLayers;

    public static ConformanceRow Run(string model, MatrixTier tier, int benchSteps = 1)
    {
        string path = Path.Combine(CorpusDirectory, model);
        using var work = new TempDirectory();
        var commands = new List<CommandOutcome>();
        CommandOutcome Step(string step, params string[] args)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            CliRunner.Result result = CliRunner.Run([.. args, "--json"]);
            JsonNode? json = null;
            if (result.ExitCode == 0 && result.Stdout.Length > 0) json = JsonNode.Parse(result.Stdout);
            var outcome = new CommandOutcome(step, result.ExitCode, result.Stderr.Trim(), json, clock.Elapsed.TotalSeconds);
            commands.Add(outcome);
            return outcome;
        }

        // Every file a command writes must load in ONNX Runtime (with the project's op library).
        void Load(string step, string file)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string error = "";
            try
            {
                using var session = OrtRunner.CreateSession(File.ReadAllBytes(file));
            }
            catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or IOException)
            {
                error = e.Message;
            }
            commands.Add(new CommandOutcome($"load {step}", error.Length == 0 ? 0 : 1, error, null, clock.Elapsed.TotalSeconds));
        }

        string fused = work.File("fused.onnx");
        if (Step("fuse", "fuse", path, "-o", fused).ExitCode == 0) Load("fuse output", fused);
        var fusedOps = OpsOf(fused);
        bool gelu = fusedOps.Any(o => o.Contains("Gelu", StringComparison.Ordinal) || o.EndsWith("Swish", StringComparison.Ordinal));
        bool silu = fusedOps.Any(o => o.EndsWith("QuickGelu", StringComparison.Ordinal) || o.EndsWith("Swish", StringComparison.Ordinal));
        bool norm = fusedOps.Any(o => o == "LayerNormalization");
        bool rms = fusedOps.Any(o => o is "SimplifiedLayerNormalization" or "RMSNormalization");

        var sets = new List<TrainableSetRow>();
        var trainable = new List<(string Set, string[] Options)> { ("lora-qv", ["--trainable", "lora", "--lora-targets", QueryValueTargets]) };
        if (tier == MatrixTier.Full)
        {
            trainable.Add(("lora-all", ["--trainable", "lora"]));
            trainable.Add(("full", ["--trainable", "full"]));
        }
        foreach (var (set, options) in trainable)
        {
            string training = work.File($"train-{set}.onnx");
            if (Step($"train-graph {set}", ["train-graph", path, "-o", training, .. options]).ExitCode != 0) continue;
            Load($"train-graph {set} output", training);
            double? gradcheck = tier == MatrixTier.Full
                ? Number(Step($"gradcheck {set}", "gradcheck", training, "--params", "8").Json, "max_rel_err")
                : null;
            var folds = set == "full" ? new[] { false, true } : [false];
            foreach (bool fold in folds)
            {
                string name = fold ? $"{set} --fold-trainable-affine" : set;
                string rewritten = work.File($"rewritten-{set}{(fold ? "-fold" : "")}.onnx");
                string[] rewriteArgs = fold ? ["rewrite", training, "-o", rewritten, "--fold-trainable-affine"] : ["rewrite", training, "-o", rewritten];
                CommandOutcome rewrite = Step($"rewrite {name}", rewriteArgs);
                if (rewrite.ExitCode != 0) continue;
                Load($"rewrite {name} output", rewritten);
                var passes = (rewrite.Json?["rewrites"]?.AsArray() ?? []).Select(r => r!["pass"]!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal).ToList();
                var skipped = (rewrite.Json?["skipped"]?.AsArray() ?? []).Select(r => $"{r!["pass"]}: {r["reason"]}").Distinct().ToList();
                CommandOutcome verify = Step($"verify {name}", "verify", training, rewritten);
                var gradients = verify.Json?["gradients"]?.AsArray() ?? [];
                bool method = verify.Json?["method_reference"] is not null;
                sets.Add(new TrainableSetRow(name, passes, skipped, fold ? null : gradcheck,
                    Number(verify.Json, "forward_max_rel_diff"),
                    method ? null : gradients.Select(g => Number(g, "rel_err") ?? double.NaN).DefaultIfEmpty(0).Max(),
                    method ? gradients.Select(g => Number(g, "method_rel_err") ?? double.NaN).DefaultIfEmpty(0).Max() : null));
            }
        }

        double? peakRatio = null, timeRatio = null;
        if (tier == MatrixTier.Full)
        {
            CommandOutcome bench = Step("bench lora-qv", "bench", path, "--steps", benchSteps.ToString(CultureInfo.InvariantCulture), "--batch", "2", "--seq", "8", "--threads", "1");
            peakRatio = Number(bench.Json, "peak_ratio");
            timeRatio = Number(bench.Json, "time_ratio");
        }
        return new ConformanceRow(model, tier, commands, sets, gelu, silu, norm, rms, peakRatio, timeRatio);
    }

    /// <summary>`domain:op` (plain op for the default domain) of every node of a model on disk, or none when it is missing.</summary>
    private static HashSet<string> OpsOf(string path)
    {
        if (!File.Exists(path)) return [];
        var model = OnnxMemOpt.Onnx.OnnxModel.Load(path);
        return model.Graph.Nodes.Select(n => n.Domain.Length > 0 ? $"{n.Domain}:{n.OpType}" : n.OpType).ToHashSet(StringComparer.Ordinal);
    }

    private static double? Number(JsonNode? node, string key) =>
        node?[key] is JsonValue value && value.TryGetValue(out double d) ? d : null;
}
