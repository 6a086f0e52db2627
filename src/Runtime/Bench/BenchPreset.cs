using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>How the bench fills an integer input: uniform below a bound, or one constant (masks, segment ids).</summary>
public sealed record IntegerFill(long Bound, long? Constant = null);

/// <summary>
/// A forward model ready for the bench: where the loss goes (output, optional classification head),
/// the symbolic dims to bind, how integer inputs are drawn, and which weights "lora-qv" and
/// "lora-all" adapt ("all" means every linear layer inside the transformer blocks: an output head
/// that writes a graph output cannot take an adapter).
/// </summary>
public sealed record BenchModel(
    string Name,
    OnnxModel Forward,
    string? Output,
    ClassificationHeadOptions? Head,
    DimBindings Dims,
    IReadOnlyDictionary<string, IntegerFill> IntegerInputs,
    string QueryValueTargets,
    string AllLinearTargets,
    int Batch,
    int Sequence,
    string Shape)
{
    /// <summary>The model with `--dim` bindings over its own (presets and files alike): the graphs are built with those sizes.</summary>
    public BenchModel WithExplicitDims(DimBindings explicitDims) =>
        explicitDims.Values.Count == 0 ? this : this with { Dims = explicitDims.Values.Aggregate(Dims, (dims, pair) => dims.With(pair.Key, pair.Value)) };
}

/// <summary>Size overrides given on the command line (null keeps the preset's value).</summary>
public sealed record BenchSizes(int? Batch = null, int? Sequence = null, int? Blocks = null, int? Hidden = null, int? Mlp = null, int? Heads = null, int? Vocab = null);

/// <summary>The trainable sets of `bench --trainable`.</summary>
public static class TrainableSets
{
    /// <summary>The accepted <c>--trainable</c> values: LoRA on the query/value projections, LoRA on every block linear, LoRA-FA, and full fine-tuning.</summary>
    public static IReadOnlyList<string> Names { get; } = ["lora-qv", "lora-all", "lora-fa", "full"];

    /// <summary>The training-graph options for <paramref name="set"/> on <paramref name="model"/>.</summary>
    public static TrainingGraphOptions Options(string set, BenchModel model, int loraRank, double loraAlpha, int seed) => new()
    {
        Loss = LossKind.CrossEntropy,
        Trainable = set switch
        {
            "full" => TrainableSet.Full,
            "lora-fa" => TrainableSet.LoraFa,
            _ => TrainableSet.Lora,
        },
        LoraTargets = set == "lora-qv" ? model.QueryValueTargets : model.AllLinearTargets,
        LoraRank = loraRank,
        LoraAlpha = loraAlpha,
        Output = model.Output,
        Head = model.Head,
        Dims = model.Dims,
        Seed = seed,
    };
}
