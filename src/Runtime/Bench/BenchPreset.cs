using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
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

    /// <summary>
    /// lora-qv on an exported model: layers whose name has a path segment naming the query or value
    /// projection (HF's query/value, q_proj/v_proj, timm's q/v), or the fused q·k·v projection
    /// where the model has no separate ones (GPT-2's c_attn, qkv, query_key_value, Wqkv), as
    /// PEFT's default targets do. Segments, so that "q" does not match inside another name.
    /// </summary>
    public const string ExportedQueryValueLayers = @"(^|[./])(q|v|query|value|q_proj|v_proj|c_attn|qkv|query_key_value|Wqkv)([./]|$)";

    /// <summary>
    /// A user's forward model (an export, say) ready for the bench: its inputs' symbolic dims bound
    /// first = <paramref name="batch"/>, others = <paramref name="sequence"/>; the loss on
    /// <paramref name="output"/> (null: the first output), through a new classification head of
    /// <paramref name="headClasses"/> classes when given; labels drawn below the class count (2 without a head).
    /// </summary>
    public static BenchModel FromForward(OnnxModel forward, int batch, int sequence, string? output = null, int? headClasses = null)
    {
        ArgumentNullException.ThrowIfNull(forward);
        string name = Path.GetFileNameWithoutExtension(forward.FileName);
        return new BenchModel(name, forward, output, headClasses is { } classes ? new ClassificationHeadOptions(classes) : null,
            BindInputSymbols(forward, batch, sequence), new Dictionary<string, IntegerFill> { ["labels"] = new(headClasses ?? 2) },
            ExportedQueryValueLayers, ".*", batch, sequence, $"{Path.GetFileName(forward.FileName)}, batch {batch}, seq {sequence}");
    }

    /// <summary>Binds each input's symbolic dims: the first to the batch size, the others to the sequence length.</summary>
    public static DimBindings BindInputSymbols(OnnxModel model, long batch, long sequence)
    {
        ArgumentNullException.ThrowIfNull(model);
        DimBindings dims = DimBindings.None;
        foreach (ValueInfoProto input in model.Graph.Proto.Input)
        {
            var shape = input.Type?.TensorType?.Shape;
            if (shape is null) continue;
            for (int d = 0; d < shape.Dim.Count; d++)
            {
                string symbol = shape.Dim[d].DimParam;
                if (symbol.Length > 0 && !dims.Values.ContainsKey(symbol))
                {
                    dims = dims.With(symbol, d == 0 ? batch : sequence);
                }
            }
        }
        return dims;
    }
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
