using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Memory;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// Trains an on-device training artifact set on the stock ONNX Runtime with the project's custom-op
/// library, mirroring ONNX Runtime's TrainingSession: <see cref="Step"/> runs the training graph
/// (forward, backward, gradient accumulation), <see cref="OptimizerStep"/> applies AdamW in C#,
/// <see cref="LazyResetGrad"/> makes the next step overwrite the gradients instead of adding to them.
/// Parameters, gradients and moments are OrtValues bound once to an OrtIoBinding; only the user
/// inputs are rebound per step.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly InferenceSession _training;
    private readonly OrtIoBinding _trainingBinding;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue _loss;
    private readonly OrtValue _lazyResetFlag;
    private readonly List<OrtValue> _flags = [];
    private readonly OrtMemoryInfo _cpu = OrtMemoryInfo.DefaultInstance;
    private readonly AdamW _adam;
    private readonly TrainerOptions _options;
    private readonly DirectGradientOutputs? _directGradients;
    private InferenceSession? _eval;
    private OrtIoBinding? _evalBinding;
    private OrtValue? _evalLoss;

    /// <summary>
    /// Allocates the parameters from the checkpoint (values, zero gradients, saved or zero moments),
    /// opens the training session and binds them; the eval session opens on the first <see cref="Evaluate(TrainingBatch)"/>.
    /// The step count resumes from the checkpoint's optimizer group, the learning rate does not (see <see cref="BaseLearningRate"/>).
    /// </summary>
    /// <param name="artifacts">The artifact set to train.</param>
    /// <param name="options">Session and optimizer settings; null: the <see cref="TrainerOptions"/> defaults.</param>
    public Trainer(TrainingArtifacts artifacts, TrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(artifacts);
        Artifacts = artifacts;
        _options = options ?? new TrainerOptions();
        _adam = new AdamW(artifacts.Optimizer);
        var group = artifacts.Checkpoint.OptimizerGroups.FirstOrDefault();
        OptimizerStepCount = group?.Step ?? 0;
        CheckpointInitialLearningRate = group?.InitialLearningRate;
        // As ONNX Runtime's training API: a session starts at 1e-3 whatever the checkpoint holds
        // (training_api/optimizer.h's default; loading a checkpoint restores initial_lr and step,
        // and only a learning-rate scheduler reads initial_lr). Checked against ORT Training 1.19.2.
        BaseLearningRate = _options.LearningRate ?? TrainerOptions.DefaultLearningRate;

        Parameters = ParameterStore.Create(artifacts.Checkpoint, artifacts.Layout);
        try
        {
            _training = SessionFactory.Open(artifacts.TrainingModelPath, _options, out bool cuda);
            UsesCuda = cuda;
            _trainingBinding = _training.CreateIoBinding();
            _loss = ScalarFloat();
            _lazyResetFlag = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Bool, [1]);
            _directGradients = new DirectGradientOutputs(_trainingBinding, artifacts.Layout, Parameters);
            BindTrainingSession();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The set this trainer runs: its layouts decide what is bound, its eval model what <see cref="Evaluate(TrainingBatch)"/> runs.</summary>
    public TrainingArtifacts Artifacts { get; }

    /// <summary>True when the training session runs on ONNX Runtime's CUDA provider (see <see cref="TrainerOptions.UseCudaWhenPresent"/>).</summary>
    public bool UsesCuda { get; }

    /// <summary>Weights, gradients and moments, bound to the sessions; read or change them between steps (a gradient check perturbs them in place).</summary>
    public ParameterStore Parameters { get; }

    /// <summary>Optimizer steps applied so far (AdamW's bias correction uses this + 1).</summary>
    public long OptimizerStepCount { get; private set; }

    /// <summary>Learning rate without a schedule: the option, else ONNX Runtime's 1e-3.</summary>
    public float BaseLearningRate { get; }

    /// <summary>The checkpoint optimizer group's initial_learning_rate, when it has one (ONNX Runtime keeps it for schedulers only).</summary>
    public float? CheckpointInitialLearningRate { get; }

    /// <summary>The learning rate the next <see cref="OptimizerStep"/> will use.</summary>
    public float CurrentLearningRate => _options.Schedule?.LearningRate(OptimizerStepCount) ?? BaseLearningRate;

    /// <summary>True until the next <see cref="Step"/>: that step overwrites the gradients rather than adding to them.</summary>
    public bool GradientResetPending { get; private set; } = true;

    internal InferenceSession TrainingSession => _training;

    /// <summary>Runs one training step on <paramref name="batch"/> and returns the loss; gradients accumulate.</summary>
    public float Step(TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        BindUserInputs(_trainingBinding, Artifacts.Layout, batch);
        bool overwrite = GradientResetPending;
        _lazyResetFlag.GetTensorMutableDataAsSpan<bool>()[0] = overwrite;
        _directGradients!.BeforeRun(overwrite);
        _training.RunWithBinding(_runOptions, _trainingBinding);
        _directGradients.AfterRun(overwrite);
        GradientResetPending = false;
        return _loss.GetTensorDataAsSpan<float>()[0];
    }

    /// <summary>Makes the next <see cref="Step"/> overwrite the accumulated gradients (ORT's LazyResetGrad).</summary>
    public void LazyResetGrad() => GradientResetPending = true;

    /// <summary>
    /// Applies AdamW to every trained parameter with the accumulated gradients, scaled by
    /// <paramref name="gradientScale"/> (1/N averages N accumulated micro-batches). Does not reset them.
    /// </summary>
    public void OptimizerStep(float gradientScale = 1f)
    {
        float learningRate = CurrentLearningRate;
        long step = OptimizerStepCount + 1;
        foreach (TrainableParameter parameter in Parameters.Trained)
        {
            _adam.Update(parameter.Values, parameter.Gradients, parameter.FirstMoments, parameter.SecondMoments, learningRate, step, gradientScale);
        }
        OptimizerStepCount = step;
    }

    /// <summary>The eval model's loss on <paramref name="batch"/> with the current parameters.</summary>
    public float Evaluate(TrainingBatch batch) => Evaluate(batch, outputs: null);

    /// <summary>
    /// The eval model's loss on <paramref name="batch"/>; its other float outputs (e.g. the log-probabilities
    /// for accuracy) are copied into <paramref name="outputs"/> by name when it is given.
    /// </summary>
    public float Evaluate(TrainingBatch batch, IDictionary<string, float[]>? outputs)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (Artifacts.EvalModelPath is null || Artifacts.EvalLayout is null)
        {
            throw new InvalidOperationException($"No eval model beside {Artifacts.TrainingModelPath}.");
        }
        if (_eval is null)
        {
            _eval = SessionFactory.Open(Artifacts.EvalModelPath, _options);
            _evalBinding = _eval.CreateIoBinding();
            _evalLoss = ScalarFloat();
            foreach (string name in Artifacts.EvalLayout.Parameters)
            {
                _evalBinding.BindInput(name, Parameters[name].Value);
            }
            _evalBinding.BindOutput(Artifacts.EvalLayout.LossOutput, _evalLoss);
            foreach (string name in Artifacts.EvalLayout.OtherOutputs)
            {
                _evalBinding.BindOutputToDevice(name, _cpu);
            }
        }
        BindUserInputs(_evalBinding!, Artifacts.EvalLayout, batch);
        _eval.RunWithBinding(_runOptions, _evalBinding!);
        if (outputs is not null && Artifacts.EvalLayout.OtherOutputs.Count > 0)
        {
            // Bound outputs come back in binding order: the loss, then the others.
            using IDisposableReadOnlyCollection<OrtValue> values = _evalBinding!.GetOutputValues();
            for (int i = 0; i < Artifacts.EvalLayout.OtherOutputs.Count; i++)
            {
                OrtValue value = values[i + 1];
                if (value.GetTensorTypeAndShape().ElementDataType == TensorElementType.Float)
                {
                    outputs[Artifacts.EvalLayout.OtherOutputs[i]] = value.GetTensorDataAsSpan<float>().ToArray();
                }
            }
        }
        return _evalLoss!.GetTensorDataAsSpan<float>()[0];
    }

    /// <summary>The training session's CPU arena statistics (cumulative since the session was created).</summary>
    public ArenaStats MemoryStats() => PeakMemory.Read(_training);

    /// <summary>Writes parameters, gradients, moments and step count so that <see cref="Resume"/> continues bit for bit.</summary>
    public void Save(string path) => TrainerCheckpoint.Write(path, Parameters, new TrainerCheckpoint.State(OptimizerStepCount, GradientResetPending));

    /// <summary>Restores a checkpoint written by <see cref="Save"/> into this trainer's parameters.</summary>
    public void Resume(string path)
    {
        TrainerCheckpoint.State state = TrainerCheckpoint.Read(path, Parameters);
        OptimizerStepCount = state.OptimizerStep;
        GradientResetPending = state.GradientResetPending;
    }

    /// <summary>Closes the sessions and frees the bound buffers and parameters.</summary>
    public void Dispose()
    {
        _trainingBinding?.Dispose();
        _training?.Dispose();
        _evalBinding?.Dispose();
        _eval?.Dispose();
        _evalLoss?.Dispose();
        _loss?.Dispose();
        _lazyResetFlag?.Dispose();
        _flags.ForEach(f => f.Dispose());
        _directGradients?.Dispose();
        _runOptions.Dispose();
        Parameters?.Dispose();
    }

    private void BindTrainingSession()
    {
        TrainingModelLayout layout = Artifacts.Layout;
        foreach (string name in layout.Parameters)
        {
            TrainableParameter parameter = Parameters[name];
            _trainingBinding.BindInput(name, parameter.Value);
            if (layout.GradientBuffers.TryGetValue(name, out string? buffer))
            {
                // InPlaceAccumulatorV2 writes the sum into this very buffer (its input 0).
                _trainingBinding.BindInput(buffer, parameter.Gradient!);
            }
        }
        if (layout.LazyResetInput is not null)
        {
            _trainingBinding.BindInput(layout.LazyResetInput, _lazyResetFlag);
        }
        _trainingBinding.BindOutput(layout.LossOutput, _loss);
        foreach (string name in layout.GradientOutputs)
        {
            if (_training.OutputMetadata[name].ElementDataType == TensorElementType.Bool)
            {
                // ORT's artifacts output InPlaceAccumulatorV2's updated_flag under this name.
                OrtValue flag = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Bool, [1]);
                _flags.Add(flag);
                _trainingBinding.BindOutput(name, flag);
            }
            else
            {
                // A graph that outputs accumulation_buffer_out instead: bound to the very buffer it
                // came from, so the (in-place) accumulator's output costs no copy and no memory.
                string parameter = name[..^TrainingModelLayout.GradientOutputSuffix.Length];
                _trainingBinding.BindOutput(name, Parameters[parameter].Gradient
                    ?? throw new InvalidDataException($"{Artifacts.TrainingModelPath}: output '{name}' has no gradient buffer input."));
            }
        }
        foreach (string name in layout.OtherOutputs)
        {
            _trainingBinding.BindOutputToDevice(name, _cpu);
        }
    }

    private static void BindUserInputs(OrtIoBinding binding, TrainingModelLayout layout, TrainingBatch batch)
    {
        foreach (TensorSpec input in layout.UserInputs)
        {
            if (!batch.Values.TryGetValue(input.Name, out OrtValue? value))
            {
                throw new ArgumentException($"The batch lacks input '{input.Name}' (the model takes {string.Join(", ", layout.UserInputs.Select(i => i.Name))}).", nameof(batch));
            }
            binding.BindInput(input.Name, value);
        }
    }

    private static OrtValue ScalarFloat() =>
        OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, []);
}
