using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>How <see cref="RewriteVerifier"/> draws the inputs both graphs run on.</summary>
public sealed record VerifyOptions
{
    /// <summary>Seed of the random inputs.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Integer inputs (token ids, labels) are drawn from [0, this); inputs named *mask* are all 1.</summary>
    public int IntegerBound { get; init; } = 2;

    /// <summary>How random ops are made deterministic in both graphs.</summary>
    public RandomOpPolicy RandomOps { get; init; } = RandomOpPolicy.FixedSeed;

    /// <summary>Sizes of symbolic input dims; unbound ones are 2, or what an artifact's parameters imply.</summary>
    public DimBindings Dims { get; init; } = DimBindings.None;

    /// <summary>A JSON data file (<see cref="TrainingDataFile"/>) whose inputs replace the drawn ones; the others stay random.</summary>
    public string? DataFile { get; init; }
}

/// <summary>One gradient output compared.</summary>
/// <param name="Name">The output's name (a *_grad… output, or an artifact's *_grad.accumulation.out).</param>
/// <param name="Norm">‖original‖, so that a reader can tell a negligible gradient from a real one.</param>
/// <param name="Agreement">Cosine and relative error of the rewritten gradient against the original's.</param>
/// <param name="MethodRelativeError">Relative error against the method's own reference (the original with the 2-bit step derivatives); null where there is none.</param>
public sealed record GradientVerdict(string Name, double Norm, GradientAgreement Agreement, double? MethodRelativeError);

/// <summary>
/// The reference a ReGELU2/ReSiLU2 rewrite is held to: the original graph with the method's step
/// derivatives written in standard ops (<see cref="StepDerivativeReferenceBuilder"/>).
/// </summary>
/// <param name="Replaced">How many step derivatives the reference carries.</param>
/// <param name="Reason">Why no reference could be built; null when it was.</param>
public sealed record StepDerivativeCheck(int Replaced, string? Reason)
{
    /// <summary>What the report says about the reference.</summary>
    public string Describe() => Reason ?? $"{Replaced} step derivative(s) in standard ops";
}

/// <summary>The comparison of a rewritten model with its original.</summary>
/// <param name="ForwardMaxRelativeDifference">Largest difference of a forward output, relative to that output's largest magnitude.</param>
/// <param name="Gradients">Every gradient output, by name.</param>
/// <param name="Artifacts">Whether either side is an on-device training artifact set (one step as ONNX Runtime's loop runs it).</param>
/// <param name="RandomOps">How random ops were made deterministic.</param>
/// <param name="StepDerivatives">Null unless the rewrite has 2-bit gradients, whose difference from the original's is by design.</param>
/// <param name="Activations">Each 2-bit activation's input gradient against the exact one.</param>
public sealed record VerificationReport(
    double ForwardMaxRelativeDifference,
    IReadOnlyList<GradientVerdict> Gradients,
    bool Artifacts,
    DeterminismReport RandomOps,
    StepDerivativeCheck? StepDerivatives,
    IReadOnlyList<ActivationGradient> Activations);

/// <summary>
/// Runs an original and a rewritten model on ONNX Runtime (with the project's op library) on the
/// same seeded random inputs and compares the forward outputs and, per gradient output (named
/// *_grad…), cosine similarity and relative error ‖b − a‖/‖a‖ against the original's (‖a‖ at least
/// <see cref="GradientComparison.NegligibleShare"/> of the largest gradient's norm). When the rewrite
/// used ReGELU2/ReSiLU2, whose gradients differ from the original's by design, each gradient is also
/// compared with the method's own reference, so that error is the implementation's alone. Artifact
/// sets run one step as ONNX Runtime's training loop would after a lazy reset
/// (<see cref="ArtifactStepInputs"/>). Random ops are made deterministic in both graphs first
/// (<see cref="Verification.RandomOps"/>). Each 2-bit activation's own input gradient is compared
/// with the exact one (<see cref="ActivationGradientCheck"/>).
/// </summary>
public static class RewriteVerifier
{
    /// <summary>Largest input drawn (elements): enough for any real check, far below what would take seconds to fill.</summary>
    private const long MaxInputElements = 1L << 26;

    /// <summary>
    /// Loads a model to verify (<see cref="VerifiedModel.Load"/>); a missing or unreadable file, or
    /// an artifact set without its checkpoint, throws <see cref="InvalidModelException"/> naming it.
    /// </summary>
    public static VerifiedModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return VerifiedModel.Load(path);
        }
        catch (FileNotFoundException e)
        {
            // The message names the model; a missing file it refers to (a checkpoint, external data) is the reason.
            string missing = e.FileName is { } file && file != path ? $"'{file}' does not exist" : "no such file";
            throw new InvalidModelException(path, $"{missing} (an artifact set needs its checkpoint beside the training model)");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(path, e.Message);
        }
    }

    /// <summary>Loads both models and compares them.</summary>
    public static VerificationReport Verify(string original, string rewritten, VerifyOptions options) =>
        Verify(Load(original), Load(rewritten), options);

    /// <summary>Compares <paramref name="rewritten"/> with <paramref name="original"/>; a graph ONNX Runtime cannot run throws <see cref="UnsupportedModelException"/>.</summary>
    public static VerificationReport Verify(VerifiedModel original, VerifiedModel rewritten, VerifyOptions options)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(rewritten);
        ArgumentNullException.ThrowIfNull(options);
        DimBindings dims = options.Dims;
        // Sizes an artifact's parameters imply for symbolic input dims (an MLP's feature width) unless bound.
        foreach (var (symbol, size) in original.InferredDims.Where(d => !dims.Values.ContainsKey(d.Key)))
        {
            dims = dims.With(symbol, size);
        }
        (OnnxModel before, DeterminismReport determinism) = Deterministic(original.Model, options.RandomOps);
        (OnnxModel after, _) = Deterministic(rewritten.Model, options.RandomOps);
        // Sessions first: a graph ONNX Runtime cannot run fails before any input is drawn.
        using InferenceSession beforeSession = Open(before);
        using InferenceSession afterSession = Open(after);
        var provided = original.Checkpoint is { } beforeCheckpoint ? ArtifactStepInputs.Create(before, beforeCheckpoint).InputNames : new HashSet<string>();
        var feeds = RandomFeeds(before.Proto.Graph, dims, options.Seed, options.IntegerBound, provided, before.FileName);
        if (options.DataFile is { } dataFile) feeds = WithData(feeds, before.Proto.Graph, dataFile);
        var expected = RunStep(before, original.Checkpoint, beforeSession, feeds);
        var actual = RunStep(after, rewritten.Checkpoint, afterSession, feeds);
        MethodReference method = MethodReference.Run(before, after, feeds, original.Checkpoint);

        // An artifact's parameters come from its checkpoint; the original's may differ (folded
        // affines), so there the propagated figure, which needs both runs, is left out.
        IReadOnlyList<ActivationGradient> activations = rewritten.Checkpoint is { } afterCheckpoint
            ? ActivationGradientCheck.Run(after, StepFeeds(after, afterCheckpoint, feeds))
            : ActivationGradientCheck.Run(after, feeds, before);

        double forward = 0;
        var gradients = new List<GradientVerdict>();
        double floor = Floor(expected), methodFloor = Floor(method.Outputs);
        foreach (var (name, reference) in expected.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!actual.TryGetValue(name, out double[]? candidate) || candidate.Length != reference.Length)
            {
                throw new UnsupportedModelException(after.FileName, $"output '{name}' is missing or has another size than in the original");
            }
            if (name.Contains("_grad", StringComparison.Ordinal))
            {
                double? versusMethod = method.Outputs?.TryGetValue(name, out double[]? stepReference) == true && stepReference.Length == candidate.Length
                    ? GradientComparison.RelativeError(stepReference, candidate, methodFloor)
                    : null;
                gradients.Add(new GradientVerdict(name, GradientComparison.Norm(reference), GradientAgreement.Of(reference, candidate, floor), versusMethod));
            }
            else
            {
                forward = Math.Max(forward, MaxRelativeDifference(reference, candidate));
            }
        }
        StepDerivativeCheck? stepDerivatives = method.Applies ? new StepDerivativeCheck(method.Replaced, method.Reason) : null;
        return new VerificationReport(forward, gradients, original.IsArtifact || rewritten.IsArtifact, determinism, stepDerivatives, activations);
    }

    private static double Floor(Dictionary<string, double[]>? outputs) => GradientComparison.NegligibleShare
        * (outputs?.Where(o => o.Key.Contains("_grad", StringComparison.Ordinal)).Select(o => GradientComparison.Norm(o.Value)).DefaultIfEmpty(0).Max() ?? 0);

    /// <summary>A session on the model (its external data read from its own folder); ONNX Runtime's refusal is the input's problem.</summary>
    private static InferenceSession Open(OnnxModel model)
    {
        try
        {
            using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            return ModelSessions.Open(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(model.FileName, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// One run: an artifact's training model gets its checkpoint's parameters, zero gradient buffers
    /// and lazy_reset_grad true besides the drawn inputs, and its accumulated gradients join the outputs.
    /// </summary>
    private static Dictionary<string, double[]> RunStep(OnnxModel model, OrtCheckpoint? checkpoint, InferenceSession session, IReadOnlyCollection<NamedOnnxValue> feeds)
    {
        if (checkpoint is null)
        {
            return RunAll(model, session, feeds);
        }
        // The gradients accumulate into this step's own buffers, read back below.
        ArtifactStepInputs step = ArtifactStepInputs.Create(model, checkpoint);
        Dictionary<string, double[]> outputs = RunAll(model, session, [.. feeds.Where(f => !step.InputNames.Contains(f.Name)), .. step.Feeds]);
        foreach (var (name, gradient) in step.AccumulatedGradients())
        {
            outputs[name] = gradient;
        }
        return outputs;
    }

    private static List<NamedOnnxValue> StepFeeds(OnnxModel model, OrtCheckpoint checkpoint, IReadOnlyCollection<NamedOnnxValue> feeds)
    {
        ArtifactStepInputs step = ArtifactStepInputs.Create(model, checkpoint);
        return [.. feeds.Where(f => !step.InputNames.Contains(f.Name)), .. step.Feeds];
    }

    private static (OnnxModel Model, DeterminismReport Report) Deterministic(OnnxModel model, RandomOpPolicy policy)
    {
        ModelProto copy = model.Proto.Clone();
        DeterminismReport report = Verification.RandomOps.MakeDeterministic(copy, policy);
        return (OnnxModel.FromProto(copy, model.FileName, model.BaseDirectory, model.Limits), report);
    }

    /// <summary>Every tensor output of one run, widened to double; non-numeric outputs are left out.</summary>
    private static Dictionary<string, double[]> RunAll(OnnxModel model, InferenceSession session, IReadOnlyCollection<NamedOnnxValue> feeds)
    {
        try
        {
            var wanted = feeds.Where(f => session.InputMetadata.ContainsKey(f.Name)).ToList();
            using var results = session.Run(wanted);
            var outputs = new Dictionary<string, double[]>(StringComparer.Ordinal);
            foreach (DisposableNamedOnnxValue result in results)
            {
                double[]? values = result.Value switch
                {
                    DenseTensor<float> f => f.Buffer.ToArray().Select(v => (double)v).ToArray(),
                    DenseTensor<double> d => d.Buffer.ToArray(),
                    DenseTensor<Float16> h => h.Buffer.ToArray().Select(v => (double)(float)v).ToArray(),
                    DenseTensor<BFloat16> b => b.Buffer.ToArray().Select(v => (double)(float)v).ToArray(),
                    _ => null,
                };
                if (values is not null) outputs[result.Name] = values;
            }
            return outputs;
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(model.FileName, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
        }
    }

    private static List<NamedOnnxValue> RandomFeeds(GraphProto graph, DimBindings dims, int seed, int intBound, IReadOnlySet<string> provided, string file)
    {
        var random = new Random(seed);
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var feeds = new List<NamedOnnxValue>();
        foreach (ValueInfoProto input in graph.Input.Where(i => !initializers.Contains(i.Name) && !provided.Contains(i.Name)))
        {
            var tensorType = input.Type?.TensorType ?? throw new UnsupportedModelException(file, $"input '{input.Name}' is not a tensor");
            long[] dimsOfInput = (tensorType.Shape?.Dim ?? []).Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
                ? d.DimValue
                : dims.Values.GetValueOrDefault(d.DimParam, 2)).ToArray();
            long elements = 1;
            foreach (long d in dimsOfInput)
            {
                if (d < 0) throw new InvalidModelException(file, $"input '{input.Name}' has negative dimension {d}");
                if (d > 0 && elements > MaxInputElements / d) throw new ModelLimitException(file, $"input '{input.Name}' has more than {MaxInputElements} elements; verify draws smaller random inputs (bind symbols with --dim)");
                elements *= d;
            }
            int[] shape = dimsOfInput.Select(d => (int)d).ToArray();
            int count = (int)elements;
            double Uniform() => random.NextDouble() * 2 - 1;
            // Masks attend everywhere: a random 0/1 attention mask can leave a row with one key or
            // none, which saturates softmax and zeroes every query/key gradient, hiding differences.
            bool isMask = input.Name.Contains("mask", StringComparison.OrdinalIgnoreCase);
            int NextInteger() => isMask ? 1 : random.Next(intBound);
            NamedOnnxValue value = (TensorProto.Types.DataType)tensorType.ElemType switch
            {
                TensorProto.Types.DataType.Float => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)Uniform()).ToArray(), shape)),
                TensorProto.Types.DataType.Double => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<double>(Enumerable.Range(0, count).Select(_ => Uniform()).ToArray(), shape)),
                TensorProto.Types.DataType.Float16 => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<Float16>(Enumerable.Range(0, count).Select(_ => (Float16)(float)Uniform()).ToArray(), shape)),
                TensorProto.Types.DataType.Int64 => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<long>(Enumerable.Range(0, count).Select(_ => (long)NextInteger()).ToArray(), shape)),
                TensorProto.Types.DataType.Int32 => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<int>(Enumerable.Range(0, count).Select(_ => NextInteger()).ToArray(), shape)),
                TensorProto.Types.DataType.Bool => NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<bool>(Enumerable.Repeat(true, count).ToArray(), shape)),
                _ => throw new UnsupportedModelException(file, $"input '{input.Name}' has element type {ElementTypes.Name(tensorType.ElemType)}, which verify cannot draw"),
            };
            feeds.Add(value);
        }
        return feeds;
    }

    /// <summary>The feeds with those the data file holds replaced (same names; the file's shapes must be the ones the others were drawn for).</summary>
    private static List<NamedOnnxValue> WithData(List<NamedOnnxValue> feeds, GraphProto graph, string path)
    {
        var specs = graph.Input.Where(i => feeds.Any(f => f.Name == i.Name)).Select(TensorSpec.FromValueInfo).ToList();
        using TrainingBatch batch = TrainingDataFile.ReadPresent(path, specs);
        var replaced = feeds.ToDictionary(f => f.Name, StringComparer.Ordinal);
        foreach (var (name, value) in batch.Values)
        {
            int[] shape = value.GetTensorTypeAndShape().Shape.Select(d => (int)d).ToArray();
            replaced[name] = value.GetTensorTypeAndShape().ElementDataType switch
            {
                TensorElementType.Float => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(value.GetTensorDataAsSpan<float>().ToArray(), shape)),
                TensorElementType.Int64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(value.GetTensorDataAsSpan<long>().ToArray(), shape)),
                TensorElementType.Int32 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<int>(value.GetTensorDataAsSpan<int>().ToArray(), shape)),
                var other => throw new UnsupportedModelException(path, $"input '{name}' has element type {other}, which data files do not support"),
            };
        }
        return feeds.Select(f => replaced[f.Name]).ToList();
    }

    /// <summary>The original graph run with the method's step derivatives, when the rewrite has 2-bit gradients.</summary>
    private sealed record MethodReference(bool Applies, int Replaced, string? Reason, Dictionary<string, double[]>? Outputs)
    {
        public static MethodReference Run(OnnxModel before, OnnxModel after, IReadOnlyCollection<NamedOnnxValue> feeds, OrtCheckpoint? checkpoint)
        {
            bool applies = after.Graph.Nodes.Any(n => n.Is("ReGelu2Grad", "com.onnxmemopt") || n.Is("ReSilu2Grad", "com.onnxmemopt"));
            if (!applies) return new MethodReference(false, 0, null, null);
            StepDerivativeReference built = StepDerivativeReferenceBuilder.Build(before, after);
            if (built.Model is null) return new MethodReference(true, 0, built.Reason, null);
            using InferenceSession session = Open(built.Model);
            return new MethodReference(true, built.Replaced, null, RunStep(built.Model, checkpoint, session, feeds));
        }
    }

    private static double MaxRelativeDifference(double[] reference, double[] candidate)
    {
        double scale = Math.Max(reference.Select(Math.Abs).DefaultIfEmpty(0).Max(), 1e-30);
        double worst = 0;
        for (int i = 0; i < reference.Length; i++) worst = Math.Max(worst, Math.Abs(candidate[i] - reference[i]) / scale);
        return worst;
    }
}
