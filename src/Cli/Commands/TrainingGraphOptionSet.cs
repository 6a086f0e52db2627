using System.CommandLine;
using System.Text.RegularExpressions;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// The options that choose how a training graph is built from a forward model (loss, trainable set,
/// LoRA, head, fusion, seed), shared by `train-graph` and `artifacts`, and their translation into
/// <see cref="TrainingGraphOptions"/>.
/// </summary>
internal sealed class TrainingGraphOptionSet
{
    private readonly Option<string> _loss = new("--loss") { Description = "ce: softmax cross-entropy against an int64 'labels' input; mse: mean squared error against a 'target' input.", DefaultValueFactory = _ => "ce" };
    private readonly Option<string> _trainable = new("--trainable") { Description = "full, lora, lora-fa (A frozen) or none (only the classification head).", DefaultValueFactory = _ => "full" };
    private readonly Option<int> _rank = new("--lora-rank") { Description = "LoRA rank r.", DefaultValueFactory = _ => 8 };
    private readonly Option<double> _alpha = new("--lora-alpha") { Description = "LoRA alpha; the update is scaled by alpha/r.", DefaultValueFactory = _ => 16 };
    private readonly Option<string> _targets = new("--lora-targets") { Description = "Regex over MatMul/Gemm weight, node and bias names choosing the adapted layers.", DefaultValueFactory = _ => ".*" };
    private readonly Option<string?> _lossOutput = new("--loss-output") { Description = "The forward output the loss (or head) is put on (default: the first output)." };
    private readonly Option<int?> _headClasses = new("--head-classes") { Description = "Add a classification head with this many classes on the output (encoders)." };
    private readonly Option<string> _headPooling = new("--head-pooling") { Description = "How a [B, S, D] output is pooled for the head: first (token) or mean.", DefaultValueFactory = _ => "first" };
    private readonly Option<bool> _noFuse = new("--no-fuse") { Description = "Differentiate the forward graph as it is, without the fuse pass first." };
    private readonly Option<int> _seed = new("--seed") { Description = "Seed of the random initial values (LoRA A, head).", DefaultValueFactory = _ => 42 };

    public TrainingGraphOptionSet()
    {
        _loss.AcceptOnlyFromAmong("ce", "mse");
        _trainable.AcceptOnlyFromAmong("full", "lora", "lora-fa", "none");
        _headPooling.AcceptOnlyFromAmong("first", "mean");
    }

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _loss, _trainable, _rank, _alpha, _targets, _lossOutput, _headClasses, _headPooling, _noFuse, _seed })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The builder's options from the parsed command line; bad values are usage errors.</summary>
    public TrainingGraphOptions From(ParseResult parse, DimBindings dims)
    {
        var options = new TrainingGraphOptions
        {
            Loss = parse.GetValue(_loss) == "mse" ? LossKind.MeanSquaredError : LossKind.CrossEntropy,
            Trainable = parse.GetValue(_trainable) switch
            {
                "lora" => TrainableSet.Lora,
                "lora-fa" => TrainableSet.LoraFa,
                "none" => TrainableSet.None,
                _ => TrainableSet.Full,
            },
            LoraRank = parse.GetValue(_rank),
            LoraAlpha = parse.GetValue(_alpha),
            LoraTargets = parse.GetValue(_targets)!,
            Output = parse.GetValue(_lossOutput),
            Head = parse.GetValue(_headClasses) is { } classes
                ? new ClassificationHeadOptions(classes, parse.GetValue(_headPooling) == "mean" ? HeadPooling.Mean : HeadPooling.FirstToken)
                : null,
            Fusion = parse.GetValue(_noFuse) ? null : TrainingGraphOptions.DefaultFusion,
            Seed = parse.GetValue(_seed),
            Dims = dims,
        };
        if (options.LoraRank < 1) throw new UsageException("--lora-rank must be at least 1");
        if (options.Head is { Classes: < 1 }) throw new UsageException("--head-classes must be at least 1");
        try
        {
            _ = new Regex(options.LoraTargets);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--lora-targets is not a valid regex: {e.Message}");
        }
        return options;
    }
}
