using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Calibration;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Rewriting;

/// <summary>What <see cref="ModelRewriter.Rewrite"/> does to a training graph.</summary>
public sealed record ModelRewriteRequest
{
    /// <summary>The passes to run, in pipeline order (<see cref="MemoryPasses.All"/> by default; empty runs none).</summary>
    public IReadOnlyList<string> Passes { get; init; } = MemoryPasses.All;

    /// <summary>The passes' options: step tables, folding of trainable affines.</summary>
    public RewriteOptions Options { get; init; } = new();

    /// <summary>Sizes of symbolic dims, for the estimates and the shape checks.</summary>
    public DimBindings Dims { get; init; } = DimBindings.None;

    /// <summary>
    /// Batches a calibrated step table is fitted on (<see cref="TrainingDataFile"/> files); when
    /// none are given and the options ask for calibrated tables, <see cref="CalibrationBatches"/>
    /// seeded random batches are drawn instead.
    /// </summary>
    public IReadOnlyList<string> CalibrationDataFiles { get; init; } = [];

    /// <summary>How many random batches to calibrate on when no data file is given.</summary>
    public int CalibrationBatches { get; init; } = 4;

    /// <summary>Random calibration batches draw integer inputs from [0, this) (token ids, labels).</summary>
    public int CalibrationIntegerBound { get; init; } = 2;

    /// <summary>Also estimate ONNX Runtime's CPU arena peak before and after (<see cref="RuntimeArenaPeak"/>); needs every symbolic input dim bound.</summary>
    public bool RuntimePeak { get; init; }
}

/// <summary>What a rewrite did and what it changed in memory.</summary>
/// <param name="Result">Every substitution and every refusal with its reason.</param>
/// <param name="Before">The activation-memory estimate of the input.</param>
/// <param name="After">The estimate of the rewritten graph.</param>
/// <param name="Calibrated">The calibrated step tables fitted, one per 2-bit activation asked for.</param>
/// <param name="RuntimeBefore">ONNX Runtime's arena estimate of the input, when asked for.</param>
/// <param name="RuntimeAfter">The arena estimate of the rewritten graph, when asked for.</param>
public sealed record ModelRewriteReport(
    PassResult Result,
    MemoryEstimate Before,
    MemoryEstimate After,
    IReadOnlyList<CalibratedActivation> Calibrated,
    RuntimeArenaPeakResult? RuntimeBefore,
    RuntimeArenaPeakResult? RuntimeAfter);

/// <summary>
/// The `rewrite` command as a call: runs the memory passes on a training graph, each candidate held
/// to ONNX Runtime loading the output (<see cref="CheckedPasses"/>, <see cref="RuntimeLoadCheck"/>),
/// fits calibrated step tables where the options ask for them, and measures the estimates before and
/// after. The model is rewritten in place; save it with <see cref="OnnxModel.Save(string)"/>.
/// </summary>
public static class ModelRewriter
{
    /// <summary>Rewrites <paramref name="model"/> as <paramref name="request"/> says and reports what changed.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Calibrated tables are asked for and apply, with no data file and fewer than 1 random batch.</exception>
    public static ModelRewriteReport Rewrite(OnnxModel model, ModelRewriteRequest? request = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        request ??= new ModelRewriteRequest();
        DimBindings dims = request.Dims;
        bool passes = request.Passes.Count > 0;
        MemoryEstimate before = MemoryEstimate.Of(model, dims);
        RuntimeArenaPeakResult? runtimeBefore = request.RuntimePeak ? RuntimeArenaPeak.Of(model, dims) : null;
        PassResult result = passes ? CheckedPasses.Run(model, request.Passes, dims, request.Options, RuntimeLoadCheck.Refusal) : new PassResult();
        IReadOnlyList<CalibratedActivation> calibrated = Calibrate(model, request);
        MemoryEstimate after = passes ? MemoryEstimate.Of(model, dims) : before;
        RuntimeArenaPeakResult? runtimeAfter = request.RuntimePeak ? (passes ? RuntimeArenaPeak.Of(model, dims) : runtimeBefore) : null;
        return new ModelRewriteReport(result, before, after, calibrated, runtimeBefore, runtimeAfter);
    }

    /// <summary>Calibrated tables when the options ask for them: on the data files given, else on seeded random batches.</summary>
    private static IReadOnlyList<CalibratedActivation> Calibrate(OnnxModel model, ModelRewriteRequest request)
    {
        IReadOnlySet<TwoBitActivationKind> kinds = StepTableCalibrator.KindsAskedFor(request.Options);
        if (kinds.Count == 0 || !TwoBitPair.In(model.Graph).Any(p => kinds.Contains(p.Kind))) return [];
        if (request.CalibrationDataFiles.Count == 0 && request.CalibrationBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ModelRewriteRequest.CalibrationBatches), request.CalibrationBatches, "at least 1 random batch is needed when no calibration data file is given");
        }
        IReadOnlyList<TensorSpec> inputs = StepTableCalibrator.InputsNeeded(model, kinds);
        IReadOnlyList<TrainingBatch> batches = request.CalibrationDataFiles.Count > 0
            ? request.CalibrationDataFiles.Select(f => TrainingDataFile.Read(f, inputs)).ToList()
            : StepTableCalibrator.SyntheticBatches(inputs, new SyntheticBatchOptions { Dims = request.Dims.Values, IntegerUpperBound = request.CalibrationIntegerBound, Seed = 1 }, request.CalibrationBatches);
        try
        {
            return StepTableCalibrator.Calibrate(model, batches, kinds);
        }
        finally
        {
            foreach (TrainingBatch batch in batches) batch.Dispose();
        }
    }
}
