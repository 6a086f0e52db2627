using System.Text.RegularExpressions;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Training;

/// <summary>The loss the training graph ends in.</summary>
public enum LossKind
{
    /// <summary>Softmax cross-entropy over logits (class axis last) against an int64 "labels" input.</summary>
    CrossEntropy,

    /// <summary>Mean squared error against a "target" input shaped like the output.</summary>
    MeanSquaredError,
}

/// <summary>Which parameters get gradients.</summary>
public enum TrainableSet
{
    /// <summary>Every weight (float initializer read by a linear, norm, embedding or bias op).</summary>
    Full,

    /// <summary>Low-rank adapters A and B beside the targeted MatMul/Gemm weights, which stay frozen.</summary>
    Lora,

    /// <summary>LoRA-FA: as LoRA, but A is frozen at its random initialisation; only B trains.</summary>
    LoraFa,

    /// <summary>Nothing of the forward model: only the classification head (which must then be added).</summary>
    None,
}

/// <summary>How an encoder's sequence output is reduced before the classification head.</summary>
public enum HeadPooling
{
    /// <summary>The first token's vector (BERT's [CLS]): Gather index 0 on axis 1.</summary>
    FirstToken,

    /// <summary>The mean over the sequence axis.</summary>
    Mean,
}

/// <summary>A classification head put on an encoder output: pooling, then logits = pooled·W + b.</summary>
/// <param name="Classes">Number of classes (the logits' last dim); at least 1.</param>
/// <param name="Pooling">How a sequence output [B, S, D] is pooled; ignored for a pooled output [B, D].</param>
public sealed record ClassificationHeadOptions(int Classes, HeadPooling Pooling = HeadPooling.FirstToken);

/// <summary>
/// A forward-graph transformation run before differentiation (the rewriter's `fuse` pass), so that
/// decomposed GELU / LayerNorm / RMSNorm / SiLU chains get their fused gradient ops.
/// </summary>
public delegate void ForwardFusion(OnnxModel model);

/// <summary>Everything <see cref="TrainingGraphBuilder"/> needs to know besides the forward model.</summary>
public sealed record TrainingGraphOptions
{
    /// <summary>The loss to end in; cross-entropy by default.</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;

    /// <summary>Which parameters train; every weight by default.</summary>
    public TrainableSet Trainable { get; init; } = TrainableSet.Full;

    /// <summary>
    /// With <see cref="TrainableSet.Full"/>: exactly these initializers train instead of the weights
    /// the heuristic picks (any floating-point initializer may be named, e.g. to check one op's gradient).
    /// </summary>
    public IReadOnlyList<string>? Parameters { get; init; }

    /// <summary>The forward output the loss (or head) is put on; null means the first graph output.</summary>
    public string? Output { get; init; }

    /// <summary>A classification head on <see cref="Output"/>; null puts the loss on the output directly.</summary>
    public ClassificationHeadOptions? Head { get; init; }

    /// <summary>
    /// r of the LoRA adapters (<see cref="TrainableSet.Lora"/>, <see cref="TrainableSet.LoraFa"/>);
    /// PEFT's default 8.
    /// </summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>LoRA's alpha: adapter updates are scaled by alpha/r.</summary>
    public double LoraAlpha { get; init; } = 16;

    /// <summary>
    /// Which MatMul/Gemm layers get adapters: a regex matched against the weight initializer's name,
    /// the node's name and the name of a bias added right after the product (exporters often name
    /// weights anonymously but keep the module path on the bias or the node).
    /// </summary>
    public string LoraTargets { get; init; } = ".*";

    /// <summary>Weights matching this pattern never train in the full set (position caches, masks).</summary>
    public string FullExclude { get; init; } = "(?i)(rope|rotary|cos_cached|sin_cached|inv_freq|cache|mask)";

    /// <summary>Seed of every random initial value (LoRA A, head weights).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The forward fusion run first (by default the rewriter's `fuse` pass); null runs none.</summary>
    public ForwardFusion? Fusion { get; init; } = DefaultFusion;

    /// <summary>The rewriter's `fuse` pass.</summary>
    public static void DefaultFusion(OnnxModel model) => FusionPass.Run(model);

    /// <summary>Bindings for symbolic dims, used by shape inference while differentiating.</summary>
    public DimBindings? Dims { get; init; }

    internal Regex LoraTargetRegex() => new(LoraTargets, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
}
