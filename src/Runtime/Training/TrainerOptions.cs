using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>Session and optimizer settings of a <see cref="Trainer"/>.</summary>
public sealed record TrainerOptions
{
    /// <summary>
    /// ONNX Runtime's learning rate for on-device training (training_api/optimizer.h, "Default value
    /// used in torch AdamW"): every session starts at it, with or without a checkpoint optimizer state.
    /// </summary>
    public const float DefaultLearningRate = 1e-3f;

    /// <summary>Intra-op threads; 0 lets ONNX Runtime choose.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's graph optimisations for the sessions (default: all, as ONNX Runtime; <c>bench --graph-optimization</c> lowers it).</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>The CPU arena must stay on for <see cref="Memory.PeakMemory"/> to report anything.</summary>
    public bool EnableCpuMemArena { get; init; } = true;

    /// <summary>
    /// ONNX Runtime's memory pattern: after the first run it allocates all intermediates of a shape
    /// set as one planned block. Off, every tensor is allocated from the arena when produced and
    /// freed after its last reader, so MaxInUse is the true high-water mark of live tensors rather
    /// than the planner's block size (which packing gaps can inflate).
    /// </summary>
    public bool EnableMemoryPattern { get; init; } = true;

    /// <summary>
    /// ONNX Runtime session configuration entries (AddSessionConfigEntry), e.g.
    /// "session.disable_prepacking" = "1": by default the CPU MatMul kernels keep a pre-packed copy of
    /// every constant weight, allocated from the same arena as the activations.
    /// </summary>
    public IReadOnlyDictionary<string, string> SessionConfig { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Put ONNX Runtime's CUDA execution provider first when this ONNX Runtime build has it and a GPU
    /// answers (the custom-op library then runs its CUDA kernels where they were compiled); otherwise,
    /// silently, the CPU provider. The Microsoft.ML.OnnxRuntime package is CPU-only, so this needs the
    /// Microsoft.ML.OnnxRuntime.Gpu runtime. Peak memory is still read from the CPU arena.
    /// </summary>
    public bool UseCudaWhenPresent { get; init; }

    /// <summary>Constant learning rate; null: <see cref="DefaultLearningRate"/>, as ONNX Runtime (a checkpoint's initial_learning_rate does not change it there either).</summary>
    public float? LearningRate { get; init; }

    /// <summary>Overrides <see cref="LearningRate"/> with a per-step schedule.</summary>
    public ILearningRateSchedule? Schedule { get; init; }

    /// <summary>Registers the project's custom-op library (which provides the com.microsoft training kernels).</summary>
    public bool RegisterCustomOps { get; init; } = true;

    internal SessionOptions CreateSessionOptions() => CreateSessionOptions(out _);

    internal SessionOptions CreateSessionOptions(out bool cuda)
    {
        SessionOptions options = RegisterCustomOps ? CustomOps.CustomOpLibrary.CreateSessionOptions() : new SessionOptions();
        options.IntraOpNumThreads = IntraOpThreads;
        options.GraphOptimizationLevel = OptimizationLevel;
        options.EnableCpuMemArena = EnableCpuMemArena;
        options.EnableMemoryPattern = EnableMemoryPattern;
        foreach (var (key, value) in SessionConfig)
        {
            options.AddSessionConfigEntry(key, value);
        }
        cuda = UseCudaWhenPresent && TryAppendCuda(options);
        return options;
    }

    /// <summary>Appends the CUDA provider; false when this ONNX Runtime build or machine has none.</summary>
    private static bool TryAppendCuda(SessionOptions options)
    {
        try
        {
            options.AppendExecutionProvider_CUDA(0);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }
}
