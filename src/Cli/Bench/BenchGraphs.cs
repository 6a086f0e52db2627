using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Ordering;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Bench;

/// <summary>One configuration's graph, ready to train: its artifacts on disk and its memory estimate.</summary>
internal sealed record BenchGraph(string Name, TrainingArtifacts Artifacts, MemoryEstimate Estimate);

/// <summary>The baseline training graph and its rewrite, with what the rewrite did.</summary>
internal sealed record BenchGraphPair(BenchGraph Baseline, BenchGraph Rewritten, PassResult Rewrites, int TrainedParameters);

/// <summary>
/// Builds the bench's two configurations from a forward model: the baseline training graph
/// (TrainingGraphBuilder, fused forward) and the same graph after the memory passes (all that
/// apply, or the list given). Each is estimated, then written as trainer artifacts under its own folder. The baseline
/// is written before the rewrite runs in place on the same model, so that a paper-scale graph is
/// held in memory only once.
/// </summary>
internal static class BenchGraphs
{
    public const string BaselineName = "baseline";
    public const string RewrittenName = "rewritten";

    public static BenchGraphPair Build(BenchModel model, TrainingGraphOptions options, string workDirectory, bool withEvalModel,
        IReadOnlyList<string>? passes = null, RewriteOptions? rewriteOptions = null)
    {
        TrainingGraphResult training = TrainingGraphBuilder.BuildWithReport(model.Forward, options);
        return FromTrainingGraph(training, model.Dims, workDirectory, withEvalModel, passes, rewriteOptions);
    }

    /// <summary>Both configurations of an existing training graph (the `bench MODEL` form); <paramref name="training"/> is rewritten in place.</summary>
    public static BenchGraphPair FromTrainingGraph(TrainingGraphResult training, DimBindings dims, string workDirectory, bool withEvalModel,
        IReadOnlyList<string>? passes = null, RewriteOptions? rewriteOptions = null)
    {
        OnnxModel model = training.Model;
        FixInputDims(model, dims);
        // The baseline gets the node placement the rewrite ends with (leaf-order is a scheduling
        // aid any graph can use, not part of the method), so the ratios measure the method alone.
        MemoryPasses.Run(model, [GradientLeafOrder.Name], dims);
        BenchGraph baseline = Prepare(BaselineName, model, dims, workDirectory, withEvalModel);
        // leaf-order always runs last, so that both configurations get the same node placement.
        IEnumerable<string> selected = (passes ?? MemoryPasses.All).Where(p => p != GradientLeafOrder.Name).Append(GradientLeafOrder.Name);
        PassResult rewrites = CheckedPasses.Run(model, selected, dims, rewriteOptions, RuntimeLoadCheck.Refusal);
        BenchGraph rewritten = Prepare(RewrittenName, model, dims, workDirectory, withEvalModel);
        return new BenchGraphPair(baseline, rewritten, rewrites, training.Parameters.Count);
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
