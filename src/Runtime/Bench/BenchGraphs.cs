using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Passes.Ordering;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Calibration;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>One configuration's graph, ready to train: its artifacts on disk and its memory estimate.</summary>
public sealed record BenchGraph(string Name, TrainingArtifacts Artifacts, MemoryEstimate Estimate);

/// <summary>The baseline training graph and its rewrite, with what the rewrite did (and, for calibrated tables, what calibration fitted).</summary>
public sealed record BenchGraphPair(BenchGraph Baseline, BenchGraph Rewritten, PassResult Rewrites, int TrainedParameters)
{
    /// <summary>The 2-bit tables calibration fitted into the rewritten graph, one per ReGelu2/ReSilu2 node; empty when no calibrated table was asked for.</summary>
    public IReadOnlyList<CalibratedActivation> Calibrated { get; init; } = [];
}

/// <summary>One rewritten configuration: its name (also its artifact folder), memory passes and their options.</summary>
public sealed record BenchVariant(string Name, IReadOnlyList<string> Passes, RewriteOptions Options);

/// <summary>A rewritten configuration's graph, with what its rewrite (and calibration) did.</summary>
public sealed record BenchVariantGraph(BenchVariant Variant, BenchGraph Graph, PassResult Rewrites, IReadOnlyList<CalibratedActivation> Calibrated);

/// <summary>The baseline and any number of rewritten configurations of the same training graph.</summary>
public sealed record BenchGraphSet(BenchGraph Baseline, IReadOnlyList<BenchVariantGraph> Variants, int TrainedParameters);

/// <summary>What the rewritten configuration needs beyond its passes: data to calibrate on, and a look at the graph before it is written.</summary>
public sealed record BenchRewriteHooks
{
    /// <summary>Batches for calibrated 2-bit tables, given the baseline's artifacts (their input specs); required when the options ask for calibration.</summary>
    public Func<TrainingArtifacts, IEnumerable<TrainingBatch>>? CalibrationData { get; init; }

    /// <summary>Called with each rewritten (and calibrated) graph and its variant's name, parameters at their initial values, before it is written.</summary>
    public Action<string, OnnxModel>? Inspect { get; init; }
}

/// <summary>
/// Builds the bench's two configurations from a forward model: the baseline training graph
/// (TrainingGraphBuilder, fused forward) and the same graph after the memory passes (all that
/// apply, or the list given). Each is estimated, then written as trainer artifacts under its own folder. The baseline
/// is written before the rewrite runs in place on the same model, so that a paper-scale graph is
/// held in memory only once.
/// </summary>
public static class BenchGraphs
{
    /// <summary>The baseline configuration's name, also its artifact folder under the work directory.</summary>
    public const string BaselineName = "baseline";
    /// <summary>The rewritten configuration's name, also its artifact folder under the work directory.</summary>
    public const string RewrittenName = "rewritten";

    /// <summary>Builds the training graph of <paramref name="model"/> and writes both configurations (as the <c>FromTrainingGraph</c> form that takes a pass list).</summary>
    /// <param name="model">The forward model and its dimension bindings.</param>
    /// <param name="options">How the training graph is built (loss, trainable set, head, seed).</param>
    /// <param name="workDirectory">Where the configurations' artifact folders are written.</param>
    /// <param name="withEvalModel">Also write each configuration's eval model (for held-out evaluation).</param>
    /// <param name="passes">Memory passes of the rewritten configuration; null: all of them.</param>
    /// <param name="rewriteOptions">Options of those passes; null: their defaults.</param>
    /// <param name="hooks">Calibration data and a look at the rewritten graph; needed when <paramref name="rewriteOptions"/> asks for calibrated tables.</param>
    public static BenchGraphPair Build(BenchModel model, TrainingGraphOptions options, string workDirectory, bool withEvalModel,
        IReadOnlyList<string>? passes = null, RewriteOptions? rewriteOptions = null, BenchRewriteHooks? hooks = null)
    {
        TrainingGraphResult training = TrainingGraphBuilder.BuildWithReport(model.Forward, options);
        return FromTrainingGraph(training, model.Dims, workDirectory, withEvalModel, passes, rewriteOptions, hooks);
    }

    /// <summary>Both configurations of an existing training graph (the `bench MODEL` form); <paramref name="training"/> is rewritten in place.</summary>
    public static BenchGraphPair FromTrainingGraph(TrainingGraphResult training, DimBindings dims, string workDirectory, bool withEvalModel,
        IReadOnlyList<string>? passes = null, RewriteOptions? rewriteOptions = null, BenchRewriteHooks? hooks = null)
    {
        var variant = new BenchVariant(RewrittenName, passes ?? MemoryPasses.All, rewriteOptions ?? new RewriteOptions());
        BenchGraphSet set = FromTrainingGraph(training, dims, workDirectory, withEvalModel, [variant], hooks);
        BenchVariantGraph rewritten = set.Variants[0];
        return new BenchGraphPair(set.Baseline, rewritten.Graph, rewritten.Rewrites, set.TrainedParameters) { Calibrated = rewritten.Calibrated };
    }

    /// <summary>The baseline and every variant of a forward model's training graph (the accuracy study trains them side by side).</summary>
    public static BenchGraphSet Build(BenchModel model, TrainingGraphOptions options, string workDirectory, bool withEvalModel,
        IReadOnlyList<BenchVariant> variants, BenchRewriteHooks? hooks)
    {
        TrainingGraphResult training = TrainingGraphBuilder.BuildWithReport(model.Forward, options);
        return FromTrainingGraph(training, model.Dims, workDirectory, withEvalModel, variants, hooks);
    }

    /// <summary>
    /// The baseline, then each variant rewritten from a copy of it; the last variant rewrites
    /// <paramref name="training"/> itself, so that with one variant the graph is held only once.
    /// </summary>
    public static BenchGraphSet FromTrainingGraph(TrainingGraphResult training, DimBindings dims, string workDirectory, bool withEvalModel,
        IReadOnlyList<BenchVariant> variants, BenchRewriteHooks? hooks)
    {
        OnnxModel model = training.Model;
        FixInputDims(model, dims);
        // The baseline gets the node placement the rewrite ends with (leaf-order is a scheduling
        // aid any graph can use, not part of the method), so the ratios measure the method alone.
        MemoryPasses.Run(model, [GradientLeafOrder.Name], dims);
        BenchGraph baseline = Prepare(BaselineName, model, dims, workDirectory, withEvalModel);
        var graphs = new List<BenchVariantGraph>();
        for (int i = 0; i < variants.Count; i++)
        {
            BenchVariant variant = variants[i];
            OnnxModel rewritten = i == variants.Count - 1 ? model : OnnxModel.FromProto(model.Proto.Clone(), model.FileName, model.BaseDirectory);
            // leaf-order always runs last, so that both configurations get the same node placement.
            IEnumerable<string> selected = variant.Passes.Where(p => p != GradientLeafOrder.Name).Append(GradientLeafOrder.Name);
            PassResult rewrites = CheckedPasses.Run(rewritten, selected, dims, variant.Options, RuntimeLoadCheck.Refusal);
            IReadOnlyList<CalibratedActivation> calibrated = Calibrate(rewritten, baseline.Artifacts, variant.Options, hooks);
            hooks?.Inspect?.Invoke(variant.Name, rewritten);
            graphs.Add(new BenchVariantGraph(variant, Prepare(variant.Name, rewritten, dims, workDirectory, withEvalModel), rewrites, calibrated));
        }
        return new BenchGraphSet(baseline, graphs, training.Parameters.Count);
    }

    private static IReadOnlyList<CalibratedActivation> Calibrate(OnnxModel rewritten, TrainingArtifacts baseline, RewriteOptions options, BenchRewriteHooks? hooks)
    {
        IReadOnlySet<TwoBitActivationKind> kinds = StepTableCalibrator.KindsAskedFor(options);
        if (kinds.Count == 0) return [];
        if (hooks?.CalibrationData is not { } data)
        {
            throw new InvalidOperationException("calibrated 2-bit tables were asked for without calibration data");
        }
        return StepTableCalibrator.Calibrate(rewritten, data(baseline), kinds);
    }

    /// <summary>
    /// Writes the bound sizes into the graph's symbolic input dims: both configurations then run with
    /// fully static shapes, which ONNX Runtime's memory planning and shape inference use directly.
    /// </summary>
    private static void FixInputDims(OnnxModel model, DimBindings dims)
    {
        foreach (var input in model.Graph.Proto.Input)
        {
            foreach (var dim in input.Type?.TensorType?.Shape?.Dim ?? [])
            {
                if (dim.DimParam.Length > 0 && dims.Values.TryGetValue(dim.DimParam, out long value))
                {
                    dim.DimValue = value;
                }
            }
        }
    }

    private static BenchGraph Prepare(string name, OnnxModel model, DimBindings dims, string workDirectory, bool withEvalModel)
    {
        MemoryEstimate estimate = MemoryEstimate.Of(model, dims);
        TrainingArtifacts artifacts = GeneratedGraphArtifacts.Write(model, Path.Combine(workDirectory, name), withEvalModel);
        return new BenchGraph(name, artifacts, estimate);
    }
}
