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
