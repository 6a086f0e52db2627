using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Memory;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Runtime.Calibration;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>One 2-bit activation's input gradient, against the exact one.</summary>
/// <param name="Node">The forward op (ReGelu2/ReSilu2) whose input gradient is checked.</param>
/// <param name="Gradient">The gradient op (ReGelu2Grad/ReSilu2Grad) that computes it; a forward op read by several gets a row for each.</param>
/// <param name="Kind">Which activation the table approximates (GELU or SiLU).</param>
/// <param name="Table">Its table attribute (yang2024, few-bit, calibrated).</param>
/// <param name="Elements">Elements of x (and of dY and dX) compared.</param>
/// <param name="Local">
/// The kernel's dX against dY·h′(x) with the same dY and x (both read from the rewritten run): the
/// figure the step table alone controls.
/// </param>
/// <param name="Propagated">
/// The rewritten run's dX against the original run's, where the original graph has that value:
/// the table's error plus what the later layers' approximations did to dY (null without an original).
/// </param>
public sealed record ActivationGradient(string Node, string Gradient, TwoBitActivationKind Kind, string Table, long Elements,
    GradientAgreement Local, GradientAgreement? Propagated);

/// <summary>
/// `verify`'s per-activation figures: for every ReGelu2Grad/ReSilu2Grad of a rewritten graph, how
/// its own input gradient dX compares with the exact one. Parameter gradients mix the errors of all
/// the layers behind them; this isolates each table.
/// </summary>
public static class ActivationGradientCheck
{
    /// <summary>With feeds as `verify` draws them; <paramref name="original"/> adds the propagated figure.</summary>
    public static IReadOnlyList<ActivationGradient> Run(OnnxModel rewritten, IReadOnlyCollection<NamedOnnxValue> feeds, OnnxModel? original = null)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        return Run(rewritten, original, (session, outputs) =>
        {
            using var results = session.Run(feeds.Where(f => session.InputMetadata.ContainsKey(f.Name)).ToList(), outputs);
            return results.ToDictionary(r => r.Name, r => Widen(r.Value, r.Name), StringComparer.Ordinal);
        });
    }

    /// <summary>With a training batch (the graph's parameters at their initial values, as initializers).</summary>
    public static IReadOnlyList<ActivationGradient> Run(OnnxModel rewritten, TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Run(rewritten, null, (session, outputs) =>
        {
            var names = session.InputMetadata.Keys.Where(batch.Values.ContainsKey).ToList();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, names.Select(n => batch.Values[n]).ToList(), outputs);
            var read = new Dictionary<string, double[]>(StringComparer.Ordinal);
            for (int i = 0; i < outputs.Count; i++) read[outputs[i]] = StepTableCalibrator.Floats(results[i]).ToArray().Select(v => (double)v).ToArray();
            return read;
        });
    }

    private static IReadOnlyList<ActivationGradient> Run(OnnxModel rewritten, OnnxModel? original, Func<InferenceSession, IReadOnlyList<string>, Dictionary<string, double[]>> run)
    {
        ArgumentNullException.ThrowIfNull(rewritten);
        var pairs = TwoBitPair.In(rewritten.Graph).Where(p => p.Gradients.Count > 0).ToList();
        if (pairs.Count == 0) return [];
        var wanted = new List<string>();
        foreach (TwoBitPair pair in pairs)
        {
            wanted.Add(pair.Input);
            foreach (var gradient in pair.Gradients) wanted.AddRange([gradient.Inputs[0], gradient.Outputs[0]]);
        }
        wanted = wanted.Distinct(StringComparer.Ordinal).ToList();
        Dictionary<string, double[]> values = Read(rewritten, wanted, run);
        Dictionary<string, double[]>? originals = null;
        if (original is not null)
        {
            var present = pairs.SelectMany(p => p.Gradients).Select(g => g.Outputs[0]).Where(v => original.Graph.Producer(v) is not null).Distinct(StringComparer.Ordinal).ToList();
            originals = present.Count > 0 ? Read(original, present, run) : [];
        }

        var rows = new List<ActivationGradient>();
        foreach (TwoBitPair pair in pairs)
        {
            double[] x = values[pair.Input];
            foreach (var gradient in pair.Gradients)
            {
                double[] dY = values[gradient.Inputs[0]], dX = values[gradient.Outputs[0]];
                if (dY.Length != x.Length || dX.Length != x.Length)
                {
                    throw new UnsupportedModelException(rewritten.FileName, $"{gradient.Label}: x, dY and dX have {x.Length}, {dY.Length} and {dX.Length} elements");
                }
                var exact = new double[x.Length];
                for (int i = 0; i < x.Length; i++) exact[i] = dY[i] * pair.Derivative(x[i]);
                GradientAgreement? propagated = originals?.TryGetValue(gradient.Outputs[0], out double[]? reference) == true && reference.Length == dX.Length
                    ? GradientAgreement.Of(reference, dX)
                    : null;
                rows.Add(new ActivationGradient(pair.Forward.Label, gradient.Label, pair.Kind, gradient.GetString(StepTableAttributes.Table, Patterns.GeluTables.Yang2024),
                    x.Length, GradientAgreement.Of(exact, dX), propagated));
            }
        }
        return rows;
    }

    private static Dictionary<string, double[]> Read(OnnxModel model, IReadOnlyList<string> values, Func<InferenceSession, IReadOnlyList<string>, Dictionary<string, double[]>> run)
    {
        // The whole graph with the values added as outputs, not the part they need: gradients need
        // nearly all of it anyway, and it is the graph training runs. A pruned CLIP LoRA backward
        // (fixtures/exported/clip-*) was seen to break in ONNX Runtime 1.31's extended-level
        // fusions ("Node input ... is not a graph input, initializer, or output of a previous
        // node") while the whole graph loads at every level.
        var probe = IntermediateOutputs.Of(model.Proto, values, onlyWhatTheyNeed: false);
        using InferenceSession session = IntermediateOutputs.Open(probe, model);
        try
        {
            return run(session, values);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(model.FileName, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
        }
    }

    private static double[] Widen(object value, string name) => value switch
    {
        DenseTensor<float> f => f.Buffer.ToArray().Select(v => (double)v).ToArray(),
        DenseTensor<Float16> h => h.Buffer.ToArray().Select(v => (double)(float)v).ToArray(),
        DenseTensor<BFloat16> b => b.Buffer.ToArray().Select(v => (double)(float)v).ToArray(),
        DenseTensor<double> d => d.Buffer.ToArray(),
        _ => throw new InvalidDataException($"'{name}' is not a floating-point tensor"),
    };
}
