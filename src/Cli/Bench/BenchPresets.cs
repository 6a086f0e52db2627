using OnnxMemOpt.Runtime.Bench;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Runtime.Models;

namespace OnnxMemOpt.Cli.Bench;

/// <summary>
/// The bench presets: paper-scale ViT-B/16, LLaMA and roberta-base stacks from the fixtures (built
/// in memory with a fixed batch), all-MiniLM-L6-v2 from NuGet with a 2-class head, and the tiny
/// fixtures for quick checks. Sizes scale with <see cref="BenchSizes"/>.
/// </summary>
internal static class BenchPresets
{
    public static readonly string[] Names = ["vit-b16", "llama", "roberta-base", "minilm", "vit-tiny", "llama-tiny", "roberta-tiny"];

    /// <summary>MiniLM's WordPiece vocabulary size (bert-base-uncased).</summary>
    public const int MiniLmVocab = 30522;

    public static BenchModel Create(string name, BenchSizes sizes, string cacheDirectory) => name switch
    {
        "vit-b16" => Vit(name, FixtureCatalog.VitB16, sizes, defaultBatch: 16),
        "vit-tiny" => Vit(name, FixtureCatalog.VitTiny, sizes, defaultBatch: 4),
        "llama" => Llama(name, FixtureCatalog.Llama, sizes, defaultBatch: 4),
        "llama-tiny" => Llama(name, FixtureCatalog.LlamaTiny, sizes, defaultBatch: 4),
        "roberta-base" => Roberta(name, FixtureCatalog.RobertaBase, sizes, defaultBatch: 32),
        "roberta-tiny" => Roberta(name, FixtureCatalog.RobertaTiny, sizes, defaultBatch: 4),
        "minilm" => MiniLm(sizes, cacheDirectory),
        _ => throw new UsageException($"unknown preset '{name}'; presets: {string.Join(", ", Names)}"),
    };

    /// <summary>Heads follow a changed width at 64 dimensions per head (the presets' own ratio) unless given.</summary>
    private static int HeadsFor(BenchSizes sizes, int hidden, int presetHeads) =>
        sizes.Heads ?? (sizes.Hidden is null ? presetHeads : Math.Max(1, hidden / 64));

    private static BenchModel Vit(string name, VitOptions preset, BenchSizes sizes, int defaultBatch)
    {
        int hidden = sizes.Hidden ?? preset.Hidden;
        VitOptions options = preset with
        {
            Batch = sizes.Batch ?? defaultBatch,
            Tokens = sizes.Sequence ?? preset.Tokens,
            Blocks = sizes.Blocks ?? preset.Blocks,
            Hidden = hidden,
            Heads = HeadsFor(sizes, hidden, preset.Heads),
            Mlp = sizes.Mlp ?? (sizes.Hidden is null ? preset.Mlp : 4 * hidden),
        };
        RejectVocab(sizes, name);
        return new BenchModel(name, Load(VitModel.Build(options), name), "logits", null, DimBindings.None,
            new Dictionary<string, IntegerFill> { ["labels"] = new(options.Classes) },
            @"attn\.(q|v)\.", @"blocks\.", (int)options.Batch!.Value, options.Tokens,
            $"ViT: {options.Blocks} blocks, D {options.Hidden}, {options.Heads} heads, MLP {options.Mlp}, {options.Tokens} tokens, batch {options.Batch}");
    }

    private static BenchModel Llama(string name, LlamaOptions preset, BenchSizes sizes, int defaultBatch)
    {
        int hidden = sizes.Hidden ?? preset.Hidden;
        LlamaOptions options = preset with
        {
            Batch = sizes.Batch ?? defaultBatch,
            SeqLen = sizes.Sequence ?? preset.SeqLen,
            Blocks = sizes.Blocks ?? preset.Blocks,
            Hidden = hidden,
            Heads = HeadsFor(sizes, hidden, preset.Heads),
            Mlp = sizes.Mlp ?? (sizes.Hidden is null ? preset.Mlp : 11 * hidden / 4),
            Vocab = sizes.Vocab ?? preset.Vocab,
        };
        return new BenchModel(name, Load(LlamaModel.Build(options), name), "logits", null, DimBindings.None,
            new Dictionary<string, IntegerFill> { ["input_ids"] = new(options.Vocab), ["labels"] = new(options.Vocab) },
            "(q_proj|v_proj)", @"layers\.", (int)options.Batch!.Value, options.SeqLen,
            $"LLaMA: {options.Blocks} blocks, D {options.Hidden}, {options.Heads} heads, SwiGLU {options.Mlp}, vocab {options.Vocab}, seq {options.SeqLen}, batch {options.Batch}");
    }

    private static BenchModel Roberta(string name, RobertaOptions preset, BenchSizes sizes, int defaultBatch)
    {
        int hidden = sizes.Hidden ?? preset.Hidden;
        RobertaOptions options = preset with
        {
            Batch = sizes.Batch ?? defaultBatch,
            SeqLen = sizes.Sequence ?? preset.SeqLen,
            Blocks = sizes.Blocks ?? preset.Blocks,
            Hidden = hidden,
            Heads = HeadsFor(sizes, hidden, preset.Heads),
            Mlp = sizes.Mlp ?? (sizes.Hidden is null ? preset.Mlp : 4 * hidden),
            Vocab = sizes.Vocab ?? preset.Vocab,
        };
        return new BenchModel(name, Load(RobertaModel.Build(options), name), "logits", null, DimBindings.None,
            new Dictionary<string, IntegerFill> { ["input_ids"] = new(options.Vocab), ["labels"] = new(options.Classes), ["attention_mask"] = new(2, 1) },
            "(query|value)", @"encoder\.", (int)options.Batch!.Value, options.SeqLen,
            $"RoBERTa: {options.Blocks} blocks, D {options.Hidden}, {options.Heads} heads, MLP {options.Mlp}, vocab {options.Vocab}, seq {options.SeqLen}, batch {options.Batch}, {options.Classes} classes");
    }

    /// <summary>all-MiniLM-L6-v2 (6 blocks, D 384) with a 2-class head on the [CLS] vector; seq 128, batch 32 unless given.</summary>
    public static BenchModel MiniLm(BenchSizes sizes, string cacheDirectory)
    {
        if (sizes.Blocks is not null || sizes.Hidden is not null || sizes.Mlp is not null || sizes.Heads is not null || sizes.Vocab is not null)
        {
            throw new UsageException("minilm is a pretrained model: only --batch and --seq change it");
        }
        int batch = sizes.Batch ?? 32;
        int sequence = sizes.Sequence ?? 128;
        OnnxModel forward = OnnxModel.Load(MiniLmModel.ExtractTo(cacheDirectory));
        return new BenchModel("minilm", forward, "last_hidden_state", new ClassificationHeadOptions(2), BenchModel.BindInputSymbols(forward, batch, sequence),
            new Dictionary<string, IntegerFill>
            {
                ["input_ids"] = new(MiniLmVocab),
                ["attention_mask"] = new(2, 1),
                ["token_type_ids"] = new(1, 0),
                ["labels"] = new(2),
            },
            "(query|value)", ".*", batch, sequence, $"all-MiniLM-L6-v2: 6 blocks, D 384, 12 heads, MLP 1536, seq {sequence}, batch {batch}, 2-class head");
    }

    private static OnnxModel Load(ModelProto proto, string name) => OnnxModel.FromProto(proto, name + ".onnx");

    private static void RejectVocab(BenchSizes sizes, string name)
    {
        if (sizes.Vocab is not null) throw new UsageException($"{name} has no vocabulary (--vocab)");
    }
}
