using OnnxMemOpt.Runtime.Bench;
using System.CommandLine;
using OnnxMemOpt.Cli.Bench;
using OnnxMemOpt.Cli.Demo;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt bench MODEL|--preset NAME [--batch N] [--seq N] [--trainable SET] [--steps N] [--json]`:
/// the baseline training graph and its rewrite (all memory passes that apply) trained side by side
/// in one process on the same data and seeds, each in a fresh session after a warm-up step; prints
/// estimated and measured peak, saved activations, median step time, final loss and the ratios.
/// MODEL is a forward model (a classification output is expected: `--output` names it, `--head-classes`
/// adds a head).
/// </summary>
internal static class BenchCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = new Argument<string?>("MODEL") { Description = "A forward ONNX model (or use --preset).", Arity = ArgumentArity.ZeroOrOne };
        var preset = new Option<string?>("--preset") { Description = $"A built-in model: {string.Join(", ", BenchPresets.Names)}." };
        preset.AcceptOnlyFromAmong(BenchPresets.Names);
        var batch = new Option<int?>("--batch") { Description = "Batch size (presets: vit-b16 16, llama 4, roberta-base 32, minilm 32)." };
        var seq = new Option<int?>("--seq") { Description = "Sequence length / tokens (vit-b16 197, llama 256, roberta-base and minilm 128)." };
        var blocks = new Option<int?>("--blocks") { Description = "Transformer blocks (fixture presets)." };
        var hidden = new Option<int?>("--hidden") { Description = "Model width D (fixture presets; heads and MLP follow unless given)." };
        var mlp = new Option<int?>("--mlp") { Description = "MLP / SwiGLU hidden size (fixture presets)." };
        var heads = new Option<int?>("--heads") { Description = "Attention heads (fixture presets)." };
        var vocab = new Option<int?>("--vocab") { Description = "Vocabulary (llama, roberta presets)." };
        var trainable = new Option<string>("--trainable") { Description = "lora-qv (LoRA on q and v), lora-all (all linear weights), lora-fa, full.", DefaultValueFactory = _ => "lora-qv" };
        trainable.AcceptOnlyFromAmong([.. TrainableSets.Names]);
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps measured after the warm-up step (default 5; --task spam: the demo's)." };
        var rank = new Option<int>("--lora-rank") { Description = "LoRA rank.", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--lora-alpha") { Description = "LoRA alpha.", DefaultValueFactory = _ => 16 };
        var lr = new Option<float?>("--lr") { Description = "Peak learning rate (AdamW; default 1e-3, --task spam: the demo's 5e-4 with warm-up and cosine decay)." };
        var task = new Option<string>("--task") { Description = "What the configurations train on: synthetic (seeded random batches, default) or spam (minilm only: the demo's SpamAssassin fine-tuning, with held-out loss and accuracy).", DefaultValueFactory = _ => "synthetic" };
        task.AcceptOnlyFromAmong("synthetic", "spam");
        var variants = new Option<string?>("--variants") { Description = $"--task spam: train these rewritten configurations beside one baseline instead of --passes/--gelu-table's one ({string.Join(", ", AccuracyVariants.Catalog.Keys)}); the JSON then holds one report per variant." };
        var evalExamples = new Option<int?>("--eval-examples") { Description = "--task spam: held-out messages to evaluate on (default: the demo's 400; 1167 is all of them)." };
        var evalEvery = new Option<int?>("--eval-every") { Description = "--task spam: evaluate every N steps as well as after the last (0: after the last only; default: the demo's)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the data and of the initial adapter values.", DefaultValueFactory = _ => 42 };
        var sequential = new Option<bool>("--sequential") { Description = "Run the configurations one after the other (one session in memory at a time) instead of alternating steps." };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads (0: ONNX Runtime's choice).", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--output") { Description = "MODEL only: the forward output the loss goes on (default: the first)." };
        var headClasses = new Option<int?>("--head-classes") { Description = "MODEL only: add a classification head with this many classes." };
        var pattern = new Option<bool>("--memory-pattern") { Description = "Turn ONNX Runtime's memory pattern on (off by default: each tensor is then allocated when produced, so MaxInUse tracks the live tensors)." };
        var prepacking = new Option<bool>("--prepacking") { Description = "Let the MatMul kernels keep pre-packed weight copies in the arena (ONNX Runtime's default; off here by default)." };
        var sessionConfig = new Option<string[]>("--session-config") { Description = "ONNX Runtime session config entry KEY=VALUE for both sessions (repeatable), e.g. session.disable_prepacking=1.", Arity = ArgumentArity.ZeroOrMore };
        var optimization = new Option<string>("--graph-optimization") { Description = "ONNX Runtime graph optimization level of both sessions: all, extended, basic, none.", DefaultValueFactory = _ => "all" };
        optimization.AcceptOnlyFromAmong("all", "extended", "basic", "none");
        var device = new Option<string>("--device") { Description = "cpu, or auto: ONNX Runtime's CUDA provider when the runtime has it and a GPU answers (the CPU package has none).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "auto");
        var passes = new Option<string?>("--passes") { Description = "Memory passes of the rewritten configuration, as rewrite's --passes (default: all that apply; leaf-order always runs, on the baseline too)." };
        Option<string> geluTable = GeluTableOption.Create();
        Option<string> siluTable = SiluTableOption.Create();
        var keep = new Option<string?>("--keep") { Description = "Keep both configurations' training artifacts in this folder." };

        var command = new Command("bench", "Train the baseline and the rewritten training graph side by side: measured and estimated peak, step time, loss.");
        command.Arguments.Add(model);
        foreach (Option option in new Option[] { preset, batch, seq, blocks, hidden, mlp, heads, vocab, trainable, steps, rank, alpha, lr, seed, sequential, threads, output, headClasses, pattern, prepacking, sessionConfig, optimization, device, passes, geluTable, siluTable, task, variants, evalExamples, evalEvery, keep })
        {
            command.Options.Add(option);
        }
        common.AddTo(command);
        command.SetAction(parse =>
        {
            string? path = parse.GetValue(model);
            string? presetName = parse.GetValue(preset);
            if ((path is null) == (presetName is null))
            {
                throw new UsageException("give either MODEL or --preset NAME");
            }
            if (parse.GetValue(steps) is < 1) throw new UsageException("--steps must be at least 1");
            string[] passList = RewriteCommand.ParsePasses(parse.GetValue(passes));
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any model is built
            bool json = parse.GetValue(common.Json);
            var sizes = new BenchSizes(parse.GetValue(batch), parse.GetValue(seq), parse.GetValue(blocks), parse.GetValue(hidden),
                parse.GetValue(mlp), parse.GetValue(heads), parse.GetValue(vocab));
            string work = parse.GetValue(keep) ?? Path.Combine(Path.GetTempPath(), "onnxmemopt-bench-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                if (parse.GetValue(task) == "spam")
                {
                    var defaults = new DemoSettings();
                    var spam = defaults with
                    {
                        Trainable = parse.GetValue(trainable)!,
                        Seed = parse.GetValue(seed),
                        Passes = passList,
                        Rewrite = SiluTableOption.Options(parse),
                        Steps = parse.GetValue(steps) ?? defaults.Steps,
                        LearningRate = parse.GetValue(lr) ?? defaults.LearningRate,
                        Batch = parse.GetValue(batch) ?? defaults.Batch,
                        Sequence = parse.GetValue(seq) ?? defaults.Sequence,
                        EvalExamples = parse.GetValue(evalExamples) ?? defaults.EvalExamples,
                        EvaluationInterval = parse.GetValue(evalEvery) ?? defaults.EvaluationInterval,
                    };
                    IReadOnlyList<BenchVariant> chosen = parse.GetValue(variants) is { } list
                        ? AccuracyVariants.Parse(list)
                        : [new BenchVariant(BenchGraphs.RewrittenName, spam.Passes, spam.Rewrite)];
                    return SpamTask(io, presetName, json, work, spam, chosen);
                }
                BenchModel benchModel = presetName is not null
                    ? BenchPresets.Create(presetName, sizes, Path.Combine(Path.GetTempPath(), "onnxmemopt-models"))
                    : FromFile(path!, sizes, parse.GetValue(output), parse.GetValue(headClasses));
                benchModel = benchModel.WithExplicitDims(common.BindingsFor(parse, benchModel.Forward));
                string set = parse.GetValue(trainable)!;
                var settings = new BenchSettings
                {
                    Steps = parse.GetValue(steps) ?? 5,
                    LearningRate = parse.GetValue(lr) ?? 1e-3f,
                    Seed = parse.GetValue(seed),
                    Interleave = !parse.GetValue(sequential),
                    IntraOpThreads = parse.GetValue(threads),
                    MemoryPattern = parse.GetValue(pattern),
                    Prepacking = parse.GetValue(prepacking),
                    UseCudaWhenPresent = parse.GetValue(device) == "auto",
                    OptimizationLevel = parse.GetValue(optimization) switch
                    {
                        "none" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL,
                        "basic" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                        "extended" => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                        _ => Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
                    },
                    SessionConfig = ParseConfig(parse.GetValue(sessionConfig) ?? []),
                    Passes = passList,
                    Rewrite = SiluTableOption.Options(parse),
                };
                var graphOptions = TrainableSets.Options(set, benchModel, parse.GetValue(rank), parse.GetValue(alpha), settings.Seed);
                BenchOutcome outcome = TrainingProgress.Run(io, TrainingProgress.IsInteractive(io, json),
                    [BenchGraphs.BaselineName, BenchGraphs.RewrittenName], settings.Steps,
                    onStep => BenchRunner.Run(benchModel, set, graphOptions, settings, work, onStep));
                if (json)
                {
                    io.Out.WriteLine(BenchReport.ToJson(outcome).ToJsonString(JsonOutput.Options));
                }
                else
                {
                    BenchReport.Render(io, outcome);
                }
                return ExitCodes.Success;
            }
            finally
            {
                if (parse.GetValue(keep) is null && Directory.Exists(work))
                {
                    Directory.Delete(work, recursive: true);
                }
            }
        });
        return command;
    }

    /// <summary>
    /// `--task spam`: the demo's fine-tuning (MiniLM, LoRA, SpamAssassin, held-out evaluation) with the
    /// bench's choice of trainable set, seed, passes and tables; sizes and schedule are the demo's
    /// unless given. The JSON is the demo's report.json.
    /// </summary>
    private static int SpamTask(CommandIO io, string? preset, bool json, string work, DemoSettings settings, IReadOnlyList<BenchVariant> variants)
    {
        if (preset != "minilm") throw new UsageException("--task spam fine-tunes the minilm preset: give --preset minilm");
        if (settings.EvalExamples is < 1 || settings.EvaluationInterval < 0) throw new UsageException("--eval-examples must be at least 1, --eval-every at least 0");
        IReadOnlyList<DemoOutcome> outcomes = TrainingProgress.Run(io, TrainingProgress.IsInteractive(io, json),
            [BenchGraphs.BaselineName, .. variants.Select(v => v.Name)], settings.Steps, onStep => DemoRunner.RunVariants(settings, variants, work, onStep));
        if (json)
        {
            if (outcomes.Count == 1 && variants[0].Name == BenchGraphs.RewrittenName)
            {
                io.Out.WriteLine(DemoReport.ToJson(outcomes[0]).ToJsonString(JsonOutput.Options));
            }
            else
            {
                var reports = new System.Text.Json.Nodes.JsonArray();
                foreach ((DemoOutcome outcome, BenchVariant variant) in outcomes.Zip(variants))
                {
                    var report = DemoReport.ToJson(outcome);
                    report["variant"] = variant.Name;
                    report["passes"] = new System.Text.Json.Nodes.JsonArray([.. variant.Passes.Select(p => (System.Text.Json.Nodes.JsonNode?)p)]);
                    reports.Add(report);
                }
                io.Out.WriteLine(new System.Text.Json.Nodes.JsonObject { ["task"] = "spam", ["variants"] = reports }.ToJsonString(JsonOutput.Options));
            }
        }
        else
        {
            foreach (DemoOutcome outcome in outcomes) BenchReport.Render(io, outcome.Comparison);
        }
        return ExitCodes.Success;
    }

    private static Dictionary<string, string> ParseConfig(IEnumerable<string> entries)
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string entry in entries)
        {
            int eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new UsageException($"--session-config expects KEY=VALUE, not '{entry}'");
            config[entry[..eq]] = entry[(eq + 1)..];
        }
        return config;
    }

    /// <summary>A forward model from a file (<see cref="BenchModel.FromForward"/>); --dim overrides come after (<see cref="BenchModel.WithExplicitDims"/>).</summary>
    private static BenchModel FromFile(string path, BenchSizes sizes, string? output, int? headClasses) =>
        BenchModel.FromForward(OnnxModel.Load(path), sizes.Batch ?? 4, sizes.Sequence ?? 128, output, headClasses);
}
