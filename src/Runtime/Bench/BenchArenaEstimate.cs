using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Bench;

/// <summary>
/// The bench's estimated peak for one configuration: ONNX Runtime writes the graph it will run (its
/// optimisations applied, with the trainer's session options), and <see cref="RuntimeArenaEstimate"/>
/// replays the runtime's allocation planner and BFC arena over it. Nothing is run: the figure comes
/// from the graph and the model of the runtime, and the measured peak stays an independent check.
/// </summary>
public static class BenchArenaEstimate
{
    private const string OptimizedFile = "runtime_optimized.onnx";

    /// <summary>Replays the arena over the graph ONNX Runtime makes of <paramref name="artifacts"/>' training model.</summary>
    /// <param name="artifacts">The configuration's artifacts; the optimised graph is written beside the training model for the replay and deleted afterwards.</param>
    /// <param name="options">The session options the configuration trains with (optimisation level, prepacking), so the replayed graph is the one that runs.</param>
    /// <returns>The replay (MaxInUse and bytes per step); null when a buffer's size is unknown.</returns>
    public static ArenaReplay? Of(TrainingArtifacts artifacts, TrainerOptions options)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(artifacts.TrainingModelPath))!;
        string path = Path.Combine(folder, OptimizedFile);
        try
        {
            RuntimeOptimizedGraph.Write(artifacts.TrainingModelPath, options, path);
            return RuntimeArenaEstimate.Replay(OnnxModel.Load(path), NodeOrderSource.WrittenByRuntime);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".weights");
        }
    }
}
