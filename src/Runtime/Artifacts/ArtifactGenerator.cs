using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>How <see cref="ArtifactGenerator"/> builds a set.</summary>
public sealed record ArtifactOptions
{
    /// <summary>Loss, trainable set (full, LoRA, LoRA-FA, head only), head, seed: the training graph builder's options.</summary>
    public TrainingGraphOptions Training { get; init; } = new();

    /// <summary>The optimizer model's AdamW attributes (default: those ONNX Runtime's generator wrote).</summary>
    public AdamWSettings Optimizer { get; init; } = OptimizerModel.GeneratorDefaults;

    /// <summary>
    /// Write the optimizer state into the checkpoint (group "group0": step 0, zero moments, this
    /// initial learning rate), as ONNX Runtime's SaveCheckpoint does after training; ONNX Runtime
    /// resumes from it exactly as from no state. Off: parameters only, as its generator wrote.
    /// </summary>
    public bool WithOptimizerState { get; init; } = true;

    /// <summary>The optimizer group's initial_learning_rate (ONNX Runtime's schedulers start from it; a session's rate is 1e-3 regardless).</summary>
    public float InitialLearningRate { get; init; } = TrainerOptions.DefaultLearningRate;

    /// <summary>Memory passes for the memory-efficient set (see MemoryPasses.All); empty writes the baseline set.</summary>
    public IReadOnlyList<string> RewritePasses { get; init; } = [];

    /// <summary>Options for the rewrite passes (GELU/SiLU tables, trainable affine, match budget); null takes their defaults. Unused without <see cref="RewritePasses"/>.</summary>
    public RewriteOptions? Rewrite { get; init; }
}

/// <summary>What was generated: the set, the training graph it came from, and the rewrite (when asked for).</summary>
public sealed record GeneratedArtifactSet(ArtifactSet Set, TrainingGraphResult TrainingGraph, ArtifactRewrite? Rewrite);

/// <summary>
/// What ONNX Runtime's discontinued onnxruntime.training.artifacts.generate_artifacts did, from a
/// forward model: the training graph (built by <see cref="TrainingGraphBuilder"/>, in ONNX Runtime's
/// gradient vocabulary) in the on-device convention (<see cref="OrtTrainingModel"/>), the eval
/// model (<see cref="EvalModel"/>), the AdamW optimizer model (<see cref="OptimizerModel"/>) and a
/// checkpoint with the trained parameters' initial values, their requires_grad flag and the
/// optimizer state. Inputs keep the forward model's names; cross-entropy adds int64 "labels".
/// With rewrite passes the set is then rewritten by <see cref="ArtifactSetRewriter"/>.
/// </summary>
public static class ArtifactGenerator
{
    /// <summary>Builds the artifact set for <paramref name="forward"/> in memory; nothing is written to disk (see <see cref="ArtifactSet.Write"/>).</summary>
    /// <param name="forward">The forward model; it is not modified, and its folder resolves external data.</param>
    /// <param name="options">Training graph options, optimizer attributes and state, and the rewrite passes to apply.</param>
    /// <returns>The set (rewritten when passes were asked for), the training graph it came from and the rewrite's report.</returns>
    public static GeneratedArtifactSet Generate(OnnxModel forward, ArtifactOptions options)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(options);
        TrainingGraphResult graph = TrainingGraphBuilder.BuildWithReport(forward, options.Training);
        OrtTrainingModelParts training = OrtTrainingModel.FromGeneratedGraph(graph.Model);
        var trained = training.TrainedParameters.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var eval = EvalModel.FromTrainingGraph(graph.Model.Proto, trained, forward.Graph.OutputNames.ToList());
        var checkpoint = new OrtCheckpoint
        {
            Version = OrtCheckpointWriter.CurrentVersion,
            TrainableParameters = training.TrainedParameters,
            FrozenParameters = [],
            OptimizerGroups = options.WithOptimizerState ? [FreshOptimizerState(training.TrainedParameters, options.InitialLearningRate)] : [],
            Properties = CheckpointProperties.Empty,
        };
        var set = new ArtifactSet
        {
            TrainingModel = OnnxModel.FromProto(training.Model, forward.FileName, forward.BaseDirectory, forward.Limits),
            EvalModel = OnnxModel.FromProto(eval, forward.FileName, forward.BaseDirectory, forward.Limits),
            OptimizerModel = OnnxModel.FromProto(OptimizerModel.Create(options.Optimizer), OptimizerModel.FileName),
            Checkpoint = checkpoint,
        };
        if (options.RewritePasses.Count == 0)
        {
            return new GeneratedArtifactSet(set, graph, null);
        }
        ArtifactRewrite rewrite = ArtifactSetRewriter.Rewrite(set, options.RewritePasses, options.Training.Dims, options.Rewrite);
        return new GeneratedArtifactSet(rewrite.Set, graph, rewrite);
    }

    /// <summary>ONNX Runtime's state of a fresh optimizer: group0 at step 0 with zero "momentum0"/"momentum1" per trained parameter.</summary>
    public static OptimizerGroupState FreshOptimizerState(IEnumerable<CheckpointTensor> trained, float initialLearningRate) =>
        new("group0", Step: 0, initialLearningRate, trained.Select(p => new ParameterMoments(p.Name,
        [
            new CheckpointTensor("momentum0", p.Dims, new float[p.Data.Length]),
            new CheckpointTensor("momentum1", p.Dims, new float[p.Data.Length]),
        ])).ToList());
}
