using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Runtime.Sessions;
using OnnxMemOpt.Runtime.Verification;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt verify ORIGINAL REWRITTEN`: runs both models on ONNX Runtime (with the project's
/// op library) on the same seeded random inputs and reports the largest relative difference of
/// the forward outputs and, per gradient output (named *_grad…), cosine similarity and relative
/// error ‖b − a‖/‖a‖ against the original's (‖a‖ at least 1e-4 of the largest gradient's norm,
/// <see cref="GradientComparison.NegligibleShare"/>). When the rewrite used ReGELU2/ReSiLU2, whose
/// gradients differ from the original's by design, each gradient is also compared with the
/// method's own reference (the original graph with the 2-bit step derivatives written in standard
/// ops, <see cref="StepDerivativeReferenceBuilder"/>): that error is the implementation's alone.
/// Artifact sets (a folder, or a training_model.onnx with its checkpoint beside it) run one step as
/// ONNX Runtime's training loop would after a lazy reset (<see cref="ArtifactStepInputs"/>): their
/// accumulated gradients are compared under the `*_grad.accumulation.out` names. Random ops are made
/// deterministic in both graphs first (<see cref="RandomOps"/>), and the report says how.
/// Each 2-bit activation's own input gradient is also compared with the exact one
/// (<see cref="ActivationGradientCheck"/>). A gradient that is exactly zero on both sides (LoRA A
/// while B is zero) has no cosine: it is reported as "zero in both".
/// </summary>
internal static class VerifyCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var original = CommonOptions.ModelArgument("ORIGINAL", "The model before rewriting (or its artifact set's folder).");
        var rewritten = CommonOptions.ModelArgument("REWRITTEN", "The rewritten model (or its artifact set's folder).");
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs.", DefaultValueFactory = _ => 1 };
        var data = new Option<string?>("--data") { Description = "Take the inputs this file holds (train's --data JSON format) instead of random ones; the others stay random." };
        var intBound = new Option<int>("--int-bound") { Description = "Integer inputs are drawn from [0, N) (token ids, labels); inputs named *mask* are all 1.", DefaultValueFactory = _ => 2 };
        var random = new Option<string>("--random") { Description = "How random ops (Dropout, RandomUniform, ...) are made deterministic in both graphs: seed (a fixed seed per node name) or zero-dropout (Dropout at ratio 0).", DefaultValueFactory = _ => "seed" };
        random.AcceptOnlyFromAmong("seed", "zero-dropout");
        var command = new Command("verify", "Compare a rewritten model's forward outputs and gradients with the original's on ONNX Runtime.");
        command.Arguments.Add(original);
        command.Arguments.Add(rewritten);
        command.Options.Add(seed);
        command.Options.Add(intBound);
        command.Options.Add(random);
        command.Options.Add(data);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            RandomOpPolicy policy = parse.GetValue(random) == "zero-dropout" ? RandomOpPolicy.ZeroRatio : RandomOpPolicy.FixedSeed;
            VerifiedModel beforeSet = LoadVerified(parse.GetValue(original)!);
            VerifiedModel afterSet = LoadVerified(parse.GetValue(rewritten)!);
            DimBindings dims = common.BindingsFor(parse, beforeSet.Model, afterSet.Model);
            // Sizes an artifact's parameters imply for symbolic input dims (an MLP's feature width) unless --dim gives them.
            foreach (var (symbol, size) in beforeSet.InferredDims.Where(d => !dims.Values.ContainsKey(d.Key)))
            {
                dims = dims.With(symbol, size);
            }
            (OnnxModel before, DeterminismReport determinism) = Deterministic(beforeSet.Model, policy);
            (OnnxModel after, _) = Deterministic(afterSet.Model, policy);
            // Sessions first: a graph ONNX Runtime cannot run fails before any input is drawn.
            using InferenceSession beforeSession = Open(before);
            using InferenceSession afterSession = Open(after);
            var provided = beforeSet.Checkpoint is { } beforeCheckpoint ? ArtifactStepInputs.Create(before, beforeCheckpoint).InputNames : new HashSet<string>();
            var feeds = RandomFeeds(before.Proto.Graph, before.FileName, dims, parse.GetValue(seed), parse.GetValue(intBound), provided);
            if (parse.GetValue(data) is { } dataFile) feeds = WithData(feeds, before.Proto.Graph, dataFile);
            var expected = RunStep(before, beforeSet.Checkpoint, beforeSession, feeds);
            var actual = RunStep(after, afterSet.Checkpoint, afterSession, feeds);
            MethodReference method = MethodReference.Run(before, after, feeds, beforeSet.Checkpoint);

            // An artifact's parameters come from its checkpoint; the original's may differ (folded
            // affines), so there the propagated figure, which needs both runs, is left out.
            IReadOnlyList<ActivationGradient> activations = afterSet.Checkpoint is { } afterCheckpoint
                ? ActivationGradientCheck.Run(after, StepFeeds(after, afterCheckpoint, feeds))
                : ActivationGradientCheck.Run(after, feeds, before);

            double forward = 0;
            var gradients = new JsonArray();
            var rows = new List<(string Name, GradientAgreement Agreement, double? VersusMethod)>();
            double Floor(Dictionary<string, double[]>? outputs) => GradientComparison.NegligibleShare
                * (outputs?.Where(o => o.Key.Contains("_grad", StringComparison.Ordinal)).Select(o => GradientComparison.Norm(o.Value)).DefaultIfEmpty(0).Max() ?? 0);
            double floor = Floor(expected), methodFloor = Floor(method.Outputs);
            foreach (var (name, reference) in expected.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                if (!actual.TryGetValue(name, out double[]? candidate) || candidate.Length != reference.Length)
                {
                    throw new UnsupportedModelException(after.FileName, $"output '{name}' is missing or has another size than in the original");
                }
                if (name.Contains("_grad", StringComparison.Ordinal))
                {
                    GradientAgreement agreement = GradientAgreement.Of(reference, candidate, floor);
                    double? versusMethod = method.Outputs?.TryGetValue(name, out double[]? stepReference) == true && stepReference.Length == candidate.Length
                        ? GradientComparison.RelativeError(stepReference, candidate, methodFloor)
                        : null;
                    rows.Add((name, agreement, versusMethod));
                    var row = Agreement(agreement);
                    row["name"] = name;
                    // ‖original‖, so a reader can tell a negligible gradient from a real one.
                    row["norm"] = JsonOutput.Number(GradientComparison.Norm(reference));
                    if (method.Applies) row["method_rel_err"] = versusMethod is { } v ? JsonOutput.Number(v) : null;
                    gradients.Add(row);
                }
                else
                {
                    forward = Math.Max(forward, MaxRelativeDifference(reference, candidate));
                }
            }
            if (parse.GetValue(common.Json))
            {
                var report = new JsonObject
                {
                    ["forward_max_rel_diff"] = JsonOutput.Number(forward),
                    ["gradients"] = gradients,
                    ["artifacts"] = beforeSet.IsArtifact || afterSet.IsArtifact,
                    ["random_ops"] = determinism.Describe(),
                };
                if (method.Applies) report["method_reference"] = method.Reason ?? $"{method.Replaced} step derivative(s) in standard ops";
                if (activations.Count > 0) report["activations"] = new JsonArray([.. activations.Select(a => (JsonNode?)ActivationJson(a))]);
                io.Out.WriteLine(report.ToJsonString(JsonOutput.Options));
            }
            else
            {
                var console = MemoryReport.Console(io.Out);
                console.MarkupLine($"forward max relative difference: {forward:E3}");
                console.MarkupLine(Markup.Escape($"random ops: {determinism.Describe()}"));
                var table = new Table().AddColumn("gradient").AddColumn(new TableColumn("cosine").RightAligned()).AddColumn(new TableColumn("relative error").RightAligned());
                if (method.Applies) table.AddColumn(new TableColumn("vs the 2-bit step derivative").RightAligned());
                foreach (var (name, agreement, versusMethod) in rows)
                {
                    var cells = new List<string> { Markup.Escape(name), CosineCell(agreement), $"{agreement.RelativeError:E3}" };
                    if (method.Applies) cells.Add(versusMethod is { } v ? $"{v:E3}" : "-");
                    table.AddRow(cells.ToArray());
                }
                console.Write(table);
                if (method.Applies)
                {
                    console.MarkupLine(Markup.Escape(method.Reason is null
                        ? "ReGELU2/ReSiLU2 change gradients by design; the last column compares with the original graph using the method's step derivatives, which the rewrite must match to float rounding."
                        : $"no step-derivative reference: {method.Reason}"));
                }
                if (activations.Count > 0)
                {
                    var perActivation = new Table().AddColumn("2-bit activation").AddColumn("table")
                        .AddColumn(new TableColumn("dX cosine vs dY·h′(x)").RightAligned())
                        .AddColumn(new TableColumn("dX cosine vs the original's").RightAligned());
                    foreach (ActivationGradient a in activations)
                    {
                        perActivation.AddRow(Markup.Escape(a.Node), Markup.Escape(a.Table), CosineCell(a.Local), a.Propagated is { } p ? CosineCell(p) : "-");
                    }
                    console.Write(perActivation);
                    console.MarkupLine(Markup.Escape("The first cosine compares each activation's dX with the exact derivative times the same dY: the error of its step table alone. The second compares with the original run's dX, which also carries what later layers' approximations did to dY."));
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>cosine and rel_err, or for a gradient that is all zeros on either side cosine null and what is zero.</summary>
    private static JsonObject Agreement(GradientAgreement agreement)
    {
        var row = new JsonObject
        {
            ["cosine"] = agreement.Cosine is { } c ? JsonOutput.Number(c) : null,
            ["rel_err"] = JsonOutput.Number(agreement.RelativeError),
        };
        if (agreement.ZeroNote is { } note) row["zero"] = note;
        return row;
    }

    private static JsonObject ActivationJson(ActivationGradient a)
    {
        JsonObject row = Agreement(a.Local);
        row["node"] = a.Node;
        row["gradient"] = a.Gradient;
        row["kind"] = a.Kind.ToString().ToLowerInvariant();
        row["table"] = a.Table;
        row["elements"] = a.Elements;
        row["propagated_cosine"] = a.Propagated?.Cosine is { } p ? JsonOutput.Number(p) : null;
        return row;
    }

    private static string CosineCell(GradientAgreement agreement) => agreement.ZeroNote ?? $"{agreement.Cosine:F6}";

    /// <summary>A session on the model (its external data read from its own folder); ONNX Runtime's refusal is the input's problem (exit 3).</summary>
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

    private static VerifiedModel LoadVerified(string path)
    {
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

    private static (OnnxModel Model, DeterminismReport Report) Deterministic(OnnxModel model, RandomOpPolicy policy)
    {
        ModelProto copy = model.Proto.Clone();
        DeterminismReport report = RandomOps.MakeDeterministic(copy, policy);
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

    /// <summary>Largest input verify draws (elements): enough for any real check, far below what would take seconds to fill.</summary>
    private const long MaxInputElements = 1L << 26;

    private static List<NamedOnnxValue> RandomFeeds(GraphProto graph, string file, DimBindings dims, int seed, int intBound, IReadOnlySet<string> provided)
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
                _ => throw new UnsupportedModelException("<verify>", $"input '{input.Name}' has element type {ElementTypes.Name(tensorType.ElemType)}, which verify cannot draw"),
            };
            feeds.Add(value);
        }
        return feeds;
    }

    /// <summary>The feeds with those the data file holds replaced (same names; the file's shapes must be the ones the others were drawn for).</summary>
    private static List<NamedOnnxValue> WithData(List<NamedOnnxValue> feeds, GraphProto graph, string path)
    {
        var specs = graph.Input.Where(i => feeds.Any(f => f.Name == i.Name)).Select(Runtime.Training.TensorSpec.FromValueInfo).ToList();
        using Runtime.Training.TrainingBatch batch = TrainingDataFile.ReadPresent(path, specs);
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
