using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>
/// An ONNX Runtime on-device training artifact set held in memory: training_model.onnx,
/// eval_model.onnx, optimizer_model.onnx and the checkpoint. <see cref="Load"/> reads one from disk
/// (file names as <see cref="TrainingArtifacts.Load"/> resolves them); <see cref="Write"/> writes it
/// under ONNX Runtime's standard names, all files or none.
/// </summary>
public sealed class ArtifactSet
{
    /// <summary>The file name ONNX Runtime's generator gives the ODTC checkpoint (no extension).</summary>
    public const string CheckpointFileName = "checkpoint";

    /// <summary>training_model.onnx: loss, gradient accumulation into buffers, lazy_reset_grad (see <see cref="OrtTrainingModel"/>).</summary>
    public required OnnxModel TrainingModel { get; init; }

    /// <summary>eval_model.onnx, the forward part without gradients; null for a set that has none (then not written).</summary>
    public OnnxModel? EvalModel { get; init; }

    /// <summary>optimizer_model.onnx: the AdamWOptimizer node whose attributes the trainer's AdamW reads (see <see cref="Artifacts.OptimizerModel"/>).</summary>
    public required OnnxModel OptimizerModel { get; init; }

    /// <summary>The trainable and frozen parameters' values and the optimizer state, written as ODTC.</summary>
    public required OrtCheckpoint Checkpoint { get; init; }

    /// <summary>Where the set was read from (messages); null for a generated set.</summary>
    public string? Source { get; init; }

    /// <summary>The files <see cref="Write"/> writes, in that order.</summary>
    public IReadOnlyList<string> FileNames =>
        EvalModel is null
            ? [OrtTrainingModel.FileName, Artifacts.OptimizerModel.FileName, CheckpointFileName]
            : [OrtTrainingModel.FileName, Artifacts.EvalModel.FileName, Artifacts.OptimizerModel.FileName, CheckpointFileName];

    /// <summary>Reads the set around <paramref name="trainingModelOrFolder"/>; the optimizer model must be there.</summary>
    public static ArtifactSet Load(string trainingModelOrFolder)
    {
        ArgumentNullException.ThrowIfNull(trainingModelOrFolder);
        // TrainingArtifacts resolves the files and checks the graph's calling convention.
        TrainingArtifacts located = TrainingArtifacts.Load(trainingModelOrFolder);
        if (located.OptimizerModelPath is null)
        {
            throw new InvalidModelException(located.TrainingModelPath, "no optimizer model beside it (optimizer_model.onnx, or one other model with an AdamWOptimizer node)");
        }
        return new ArtifactSet
        {
            TrainingModel = OnnxModel.Load(located.TrainingModelPath),
            EvalModel = located.EvalModelPath is null ? null : OnnxModel.Load(located.EvalModelPath),
            OptimizerModel = OnnxModel.Load(located.OptimizerModelPath),
            Checkpoint = located.Checkpoint,
            Source = Path.GetDirectoryName(Path.GetFullPath(located.TrainingModelPath)),
        };
    }

    /// <summary>
    /// Writes the set into <paramref name="folder"/>, which must be absent or empty: everything goes to
    /// a temporary folder beside it first and is moved into place only once complete, so a failure
    /// leaves <paramref name="folder"/> as it was. An unusable folder (a file, not empty, no parent) is an <see cref="ArgumentException"/>.
    /// </summary>
    public void Write(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string target = Path.GetFullPath(folder);
        if (File.Exists(target))
        {
            throw new ArgumentException($"'{folder}' is a file; the artifact set is written into a folder.", nameof(folder));
        }
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
        {
            throw new ArgumentException($"Output folder '{folder}' is not empty; the artifact set is written into a new or empty folder.", nameof(folder));
        }
        string parent = Path.GetDirectoryName(target) ?? ".";
        if (!Directory.Exists(parent))
        {
            throw new ArgumentException($"The folder '{parent}' that would hold '{folder}' does not exist.", nameof(folder));
        }
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            Save(TrainingModel, Path.Combine(staging, OrtTrainingModel.FileName));
            if (EvalModel is not null)
            {
                Save(EvalModel, Path.Combine(staging, Artifacts.EvalModel.FileName));
            }
            Save(OptimizerModel, Path.Combine(staging, Artifacts.OptimizerModel.FileName));
            OrtCheckpointWriter.Write(Checkpoint, Path.Combine(staging, CheckpointFileName));
            if (Directory.Exists(target))
            {
                Directory.Delete(target);
            }
            Directory.Move(staging, target);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private static void Save(OnnxModel model, string path) => ModelWriter.Save(model, path);
}
