using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// What rules see while they run: the model and its graph, value types (inferred on demand and
/// refreshed after edits), the `--dim` bindings and the user's options.
/// </summary>
public sealed class RewriteContext
{
    private IReadOnlyDictionary<string, TensorType>? _types;
    private TrainingPhases? _phases;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// A context over <paramref name="model"/>'s main graph; the time budget of
    /// <see cref="CheckTimeBudget"/> starts now.
    /// </summary>
    /// <param name="model">The model the rules edit in place.</param>
    /// <param name="dims">Symbolic dimension values for shape inference; none when null.</param>
    /// <param name="options">The user's choices; the defaults when null.</param>
    public RewriteContext(OnnxModel model, DimBindings? dims = null, RewriteOptions? options = null)
    {
        Model = model;
        Dims = dims ?? DimBindings.None;
        Options = options ?? new RewriteOptions();
        Scope = new MatchScope(model.Graph);
    }

    /// <summary>The model being rewritten; its file name goes into errors and new opset imports into it.</summary>
    public OnnxModel Model { get; }

    /// <summary>The model's main graph, which rules match in and edit.</summary>
    public OnnxGraph Graph => Model.Graph;

    /// <summary>The `--dim` bindings shape inference uses, so that byte figures are known.</summary>
    public DimBindings Dims { get; }

    /// <summary>The user's choices for this run (tables, trainable affines, refused candidates, time budget).</summary>
    public RewriteOptions Options { get; }

    /// <summary>The match scope over <see cref="Graph"/>, whose constant cache lives as long as the context.</summary>
    public MatchScope Scope { get; }

    /// <summary>The default-domain opset the model imports (1 when it imports none).</summary>
    public long OnnxOpset => Model.OpsetVersion("") ?? 1;

    /// <summary>Every value's inferred type, inferred on first use after an <see cref="Invalidate"/>.</summary>
    public IReadOnlyDictionary<string, TensorType> Types => _types ??= ShapeInference.Infer(Graph, Dims);

    /// <summary>The inferred type of <paramref name="value"/>, or null when shape inference did not reach it.</summary>
    public TensorType? TypeOf(string value) => Types.GetValueOrDefault(value);

    /// <summary>
    /// Which nodes are forward and which backward, classified once per graph state: rules ask for
    /// it for every candidate node, and classifying anew each time made a pass quadratic in the
    /// graph (a 10,000-node LLaMA export spent minutes there).
    /// </summary>
    public TrainingPhases Phases => _phases ??= TrainingPhases.Classify(Graph);

    /// <summary>Called after every edit: types of new values are inferred again when next asked for.</summary>
    public void Invalidate()
    {
        _types = null;
        _phases = null;
    }

    /// <summary>Called after each applied rewrite: the phases depend on the nodes, which it changed.</summary>
    public void InvalidatePhases() => _phases = null;

    /// <summary>
    /// Stops pattern matching that runs past <see cref="RewriteOptions.MatchTimeBudget"/>: a crafted
    /// graph (long commutative chains, huge fan-out) can make matching explode, and a build
    /// pipeline must get a clear error instead of a hang.
    /// </summary>
    public void CheckTimeBudget()
    {
        TimeSpan elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(_started);
        if (elapsed > Options.MatchTimeBudget)
        {
            throw new ModelLimitException(Model.FileName, $"pattern matching ran past its time budget of {Options.MatchTimeBudget.TotalSeconds:0.#} s");
        }
    }
}

/// <summary>User choices that change what the passes may do.</summary>
public sealed record RewriteOptions
{
    /// <summary>
    /// Let MS-LN / MS-RMSNorm rewrite norms whose γ, β are trainable (graph inputs): the affine is
    /// then recomputed from the shared normalised tensor instead of being folded offline.
    /// </summary>
    public bool FoldTrainableAffine { get; init; }

    /// <summary>
    /// The 2-bit GELU derivative table ReGelu2 and ReGelu2Grad use: the paper's (default), Few-Bit
    /// Backward's derivative-fitted one, or tables calibrated per layer (same code and memory; see
    /// <c>TwoBitStepTable</c>). Calibration needs the model run on data, which the rewrite passes
    /// do not do: with <see cref="GeluTables.Calibrated"/> the rule writes the paper's table, and
    /// the runtime's <c>StepTableCalibrator</c> then replaces it node by node (the rewrite and
    /// bench commands run it whenever this option asks for it).
    /// </summary>
    public string GeluTable { get; init; } = GeluTables.Yang2024;

    /// <summary>The 2-bit SiLU derivative table of ReSilu2/ReSilu2Grad: the paper's (default) or calibrated per layer, as <see cref="GeluTable"/>.</summary>
    public string SiluTable { get; init; } = SiluTables.Yang2024;

    /// <summary>Wall-clock budget for all pattern matching of one pass run (see <see cref="RewriteContext.CheckTimeBudget"/>).</summary>
    public TimeSpan MatchTimeBudget { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Candidates no rule may rewrite, each with the reason reported for it (see
    /// <see cref="Passes.CheckedPasses"/>, which refuses those whose rewrite ONNX Runtime would not load).
    /// </summary>
    public IReadOnlyList<CandidateRefusal> Refused { get; init; } = [];

    /// <summary>The refusal of the candidate rooted at <paramref name="node"/> for <paramref name="pass"/>, or null.</summary>
    public CandidateRefusal? RefusalOf(string pass, string node) =>
        Refused.Count == 0 ? null : Refused.FirstOrDefault(r => r.Pass == pass && r.Node == node);
}

/// <summary>
/// A candidate of <paramref name="Pass"/> rooted at node <paramref name="Node"/> that no rule of the
/// pass may rewrite, and why; the reason is reported under <paramref name="Rule"/> (the rule whose
/// rewrite was refused), or under every rule that looks at the node when that is null.
/// </summary>
/// <param name="Pass">The pass, as `--passes` names it.</param>
/// <param name="Node">Label of the candidate's root node.</param>
/// <param name="Reason">What to report for it.</param>
/// <param name="Rule">The rule refused, or null for every rule.</param>
public sealed record CandidateRefusal(string Pass, string Node, string Reason, string? Rule = null);

/// <summary>Names of the 2-bit GELU derivative tables, as the ops' <c>table</c> attribute spells them.</summary>
public static class GeluTables
{
    /// <summary>Yang et al. (ICML 2024), METHOD.md: three shifted ReLUs fitted to GELU in function space.</summary>
    public const string Yang2024 = "yang2024";

    /// <summary>Few-Bit Backward (Novikov et al., ICML 2023): levels fitted to GELU′ itself.</summary>
    public const string FewBit = "few-bit";

    /// <summary>Beyond the paper: thresholds and levels fitted to each layer's own input distribution, carried as node attributes.</summary>
    public const string Calibrated = "calibrated";

    /// <summary>Every GELU table name: the values `--gelu-table` accepts.</summary>
    public static IReadOnlyList<string> All { get; } = [Yang2024, FewBit, Calibrated];
}

/// <summary>Names of the 2-bit SiLU derivative tables, as the ops' <c>table</c> attribute spells them.</summary>
public static class SiluTables
{
    /// <summary>Yang et al. (ICML 2024), METHOD.md (thresholds cᵢ/α for x·σ(αx)).</summary>
    public const string Yang2024 = GeluTables.Yang2024;

    /// <summary>Fitted to each layer's own input distribution, as <see cref="GeluTables.Calibrated"/>.</summary>
    public const string Calibrated = GeluTables.Calibrated;

    /// <summary>Every SiLU table name: the values `--silu-table` accepts.</summary>
    public static IReadOnlyList<string> All { get; } = [Yang2024, Calibrated];
}
