using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Checkpoints;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// An on-device training artifact set as ONNX Runtime's generator writes it: training_model.onnx,
/// eval_model.onnx and optimizer_model.onnx side by side, with a checkpoint. Loading reads the
/// checkpoint and the graphs' calling conventions; sessions are created by <see cref="Trainer"/>.
/// </summary>
public sealed class TrainingArtifacts
{
    private TrainingArtifacts(
        string trainingModelPath, string? evalModelPath, string? optimizerModelPath, string checkpointPath,
        OrtCheckpoint checkpoint, TrainingModelLayout layout, TrainingModelLayout? evalLayout, AdamWSettings optimizer,
        IReadOnlyDictionary<string, long> inferredDims, IReadOnlySet<string> symbols)
    {
        InferredDims = inferredDims;
        Symbols = symbols;
        TrainingModelPath = trainingModelPath;
        EvalModelPath = evalModelPath;
        OptimizerModelPath = optimizerModelPath;
        CheckpointPath = checkpointPath;
        Checkpoint = checkpoint;
        Layout = layout;
        EvalLayout = evalLayout;
        Optimizer = optimizer;
    }

    /// <summary>The training model's file; the trainer's session opens it (its folder resolves external data).</summary>
    public string TrainingModelPath { get; }

    /// <summary>The eval model's file, which <see cref="Trainer"/> evaluates with; null when the set has none.</summary>
    public string? EvalModelPath { get; }

    /// <summary>The optimizer model read for AdamW's attributes; null when none was found (then AdamW uses its schema defaults).</summary>
    public string? OptimizerModelPath { get; }

    /// <summary>The checkpoint file read, or, for a checkpoint built in memory, the name given for messages.</summary>
    public string CheckpointPath { get; }

    /// <summary>The parameters' initial values and any saved optimizer state; the trainer copies them into its own buffers.</summary>
    public OrtCheckpoint Checkpoint { get; }

    /// <summary>The training model's inputs and outputs, classified (user inputs, parameters, gradient buffers or outputs, loss).</summary>
    public TrainingModelLayout Layout { get; }

    /// <summary>The eval model's inputs and outputs; null without an eval model.</summary>
    public TrainingModelLayout? EvalLayout { get; }

    /// <summary>AdamW's attributes, from the optimizer model (schema defaults when none was found).</summary>
    public AdamWSettings Optimizer { get; }

    /// <summary>Sizes of symbolic user-input dimensions implied by the parameters they multiply (see <see cref="InputDimInference"/>).</summary>
    public IReadOnlyDictionary<string, long> InferredDims { get; }

    /// <summary>The symbolic dimension names the training model declares (what `--dim` may bind).</summary>
    public IReadOnlySet<string> Symbols { get; }

    /// <summary>A synthetic batch for the training model's user inputs; explicit dims in <paramref name="options"/> win over inferred ones.</summary>
    public TrainingBatch CreateSyntheticBatch(SyntheticBatchOptions? options = null)
    {
        options ??= new SyntheticBatchOptions();
        var dims = new Dictionary<string, long>(InferredDims, StringComparer.Ordinal);
        foreach (var (name, size) in options.Dims)
        {
            dims[name] = size;
        }
        return Training.SyntheticBatch.Create(Layout.UserInputs, options with { Dims = dims });
    }

    /// <summary>
    /// Loads the artifacts around <paramref name="trainingModelPath"/> (the model, or its folder when it
    /// is named training_model.onnx). Unless given: the checkpoint is
    /// the file named <c>checkpoint</c> or <c>*.ckpt</c> in the model's folder, the eval model is
    /// <c>eval_model.onnx</c>, and the optimizer model is <c>optimizer_model.onnx</c> or else the one
    /// other model in the folder that holds an AdamWOptimizer node.
    /// </summary>
    public static TrainingArtifacts Load(string trainingModelPath, string? checkpointPath = null,
        string? optimizerModelPath = null, string? evalModelPath = null)
    {
        ArgumentNullException.ThrowIfNull(trainingModelPath);
        if (Directory.Exists(trainingModelPath))
        {
            // An artifact folder: ORT's generator names the training graph training_model.onnx.
            trainingModelPath = Path.Combine(trainingModelPath, "training_model.onnx");
        }
        RequireFile(trainingModelPath);
        string folder = Path.GetDirectoryName(Path.GetFullPath(trainingModelPath))!;
        string checkpointFile = OrtCheckpointReader.ResolveFile(checkpointPath ?? folder);
        evalModelPath ??= Existing(Path.Combine(folder, "eval_model.onnx"));
        optimizerModelPath ??= FindOptimizerModel(folder, trainingModelPath, evalModelPath);
        AdamWSettings optimizer = optimizerModelPath is null ? new AdamWSettings() : AdamWSettings.FromOptimizerModel(optimizerModelPath);
        return Create(trainingModelPath, OrtCheckpointReader.Read(checkpointFile), checkpointFile, optimizer, optimizerModelPath, evalModelPath);
    }

    /// <summary>
    /// Artifacts from a checkpoint held in memory, e.g. one built from a generated training graph's
    /// initial weights. <paramref name="checkpointSource"/> only names it in messages.
    /// </summary>
    public static TrainingArtifacts Create(string trainingModelPath, OrtCheckpoint checkpoint, string checkpointSource,
        AdamWSettings? optimizer = null, string? optimizerModelPath = null, string? evalModelPath = null)
    {
        ArgumentNullException.ThrowIfNull(trainingModelPath);
        ArgumentNullException.ThrowIfNull(checkpoint);
        RequireFile(trainingModelPath);
        var parameterNames = checkpoint.AllParameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        ModelProto trainingModel = TrainingModelLayout.ReadModel(trainingModelPath);
        TrainingModelLayout layout = TrainingModelLayout.FromModel(trainingModel, parameterNames, trainingModelPath);
        if (!layout.IsTrainingModel)
        {
            throw new InvalidDataException($"{trainingModelPath}: no '<param>{TrainingModelLayout.GradientBufferSuffix}' inputs and no '<param>{TrainingModelLayout.DirectGradientSuffix}' outputs; this is not a training model.");
        }
        TrainingModelLayout? evalLayout = null;
        if (evalModelPath is not null)
        {
            RequireFile(evalModelPath);
            evalLayout = TrainingModelLayout.FromModel(TrainingModelLayout.ReadModel(evalModelPath), parameterNames, evalModelPath);
        }
        var dims = InputDimInference.FromConsumers(trainingModel, layout, checkpoint.AllParameters.ToDictionary(p => p.Name, p => p.Dims, StringComparer.Ordinal));
        return new TrainingArtifacts(trainingModelPath, evalModelPath, optimizerModelPath, checkpointSource, checkpoint, layout, evalLayout,
            optimizer ?? new AdamWSettings(), dims, ModelSymbols.Of(trainingModel));
    }

    private static void RequireFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Model '{path}' does not exist.", path);
        }
    }

    private static string? Existing(string path) => File.Exists(path) ? path : null;

    private static string? FindOptimizerModel(string folder, string trainingModelPath, string? evalModelPath)
    {
        if (Existing(Path.Combine(folder, "optimizer_model.onnx")) is { } standard)
        {
            return standard;
        }
        string[] exclude = [Path.GetFullPath(trainingModelPath), evalModelPath is null ? "" : Path.GetFullPath(evalModelPath)];
        string[] candidates = Directory.EnumerateFiles(folder, "*.onnx")
            .Where(f => !exclude.Contains(Path.GetFullPath(f)))
            .Where(HasAdamW)
            .Order(StringComparer.Ordinal)
            .ToArray();
        return candidates.Length switch
        {
            0 => null,
            1 => candidates[0],
            _ => throw new InvalidDataException($"{folder}: several optimizer models ({string.Join(", ", candidates.Select(Path.GetFileName))}); pass one explicitly."),
        };
    }

    private static bool HasAdamW(string path)
    {
        // Optimizer models are tiny; a large file here is some other model and is not parsed.
        if (new FileInfo(path).Length > 1 << 20)
        {
            return false;
        }
        try
        {
            ModelProto model = TrainingModelLayout.ReadModel(path);
            return model.Graph?.Node.Any(n => n.OpType == AdamWSettings.OpType && n.Domain == AdamWSettings.Domain) == true;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return false;
        }
    }
}
