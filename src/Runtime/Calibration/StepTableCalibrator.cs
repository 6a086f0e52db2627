using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes.Memory.Calibration;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Calibration;

/// <summary>
/// Calibrates the 2-bit step tables of a rewritten graph to its data (<c>--gelu-table calibrated</c>,
/// <c>--silu-table calibrated</c>): runs the forward part of the graph on ONNX Runtime over a few
/// batches, counts the inputs of every ReGelu2/ReSilu2 of the kinds asked for, and writes into each
/// node pair a table fitted to its own layer's distribution (<see cref="CalibratedTables"/>). The
/// parameters take the graph's initial values (a generated training graph carries them as
/// initializers; for LoRA that is the pretrained model, B being zero).
/// </summary>
public static class StepTableCalibrator
{
    /// <summary>The activation kinds <paramref name="options"/> asks to calibrate (empty: none).</summary>
    public static IReadOnlySet<TwoBitActivationKind> KindsAskedFor(RewriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var kinds = new HashSet<TwoBitActivationKind>();
        if (options.GeluTable == GeluTables.Calibrated) kinds.Add(TwoBitActivationKind.Gelu);
        if (options.SiluTable == SiluTables.Calibrated) kinds.Add(TwoBitActivationKind.Silu);
        return kinds;
    }

    /// <summary>Calibrates <paramref name="rewritten"/> in place; returns one entry per activation calibrated.</summary>
    public static IReadOnlyList<CalibratedActivation> Calibrate(OnnxModel rewritten, IEnumerable<TrainingBatch> batches, IReadOnlySet<TwoBitActivationKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(rewritten);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(kinds);
        var inputs = TwoBitPair.In(rewritten.Graph).Where(p => kinds.Contains(p.Kind)).Select(p => p.Input).Distinct(StringComparer.Ordinal).ToList();
        if (inputs.Count == 0) return [];
        IReadOnlyDictionary<string, PreActivationHistogram> histograms = Count(rewritten, inputs, batches);
        return CalibratedTables.Apply(rewritten, histograms, kinds);
    }

    /// <summary>The graph inputs calibration feeds (those the forward part up to the 2-bit activations reads and that have no initial value).</summary>
    public static IReadOnlyList<TensorSpec> InputsNeeded(OnnxModel rewritten, IReadOnlySet<TwoBitActivationKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(rewritten);
        ArgumentNullException.ThrowIfNull(kinds);
        var inputs = TwoBitPair.In(rewritten.Graph).Where(p => kinds.Contains(p.Kind)).Select(p => p.Input).Distinct(StringComparer.Ordinal).ToList();
        var probe = IntermediateOutputs.Of(rewritten.Proto, inputs, onlyWhatTheyNeed: true);
        var initialized = probe.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return probe.Graph.Input.Where(i => !initialized.Contains(i.Name)).Select(TensorSpec.FromValueInfo).ToList();
    }

    /// <summary>
    /// Seeded random batches for calibrating without data (the rewrite command's fallback): as
    /// <see cref="SyntheticBatch"/> draws them, except that inputs named *mask* are all 1, as
    /// `verify` draws them (a random 0/1 attention mask is no input a model sees in use).
    /// </summary>
    public static IReadOnlyList<TrainingBatch> SyntheticBatches(IReadOnlyList<TensorSpec> inputs, SyntheticBatchOptions options, int count)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        var batches = new List<TrainingBatch>();
        for (int i = 0; i < count; i++)
        {
            TrainingBatch batch = SyntheticBatch.Create(inputs, options with { Seed = options.Seed + i });
            foreach (var (name, value) in batch.Values.Where(v => v.Key.Contains("mask", StringComparison.OrdinalIgnoreCase)))
            {
                switch (value.GetTensorTypeAndShape().ElementDataType)
                {
                    case TensorElementType.Int64: value.GetTensorMutableDataAsSpan<long>().Fill(1); break;
                    case TensorElementType.Int32: value.GetTensorMutableDataAsSpan<int>().Fill(1); break;
                    case TensorElementType.Float: value.GetTensorMutableDataAsSpan<float>().Fill(1); break;
                    case TensorElementType.Bool: value.GetTensorMutableDataAsSpan<bool>().Fill(true); break;
                }
            }
            batches.Add(batch);
        }
        return batches;
    }

    /// <summary>The distribution of each of <paramref name="values"/> over the batches (forward part of the graph only).</summary>
    public static IReadOnlyDictionary<string, PreActivationHistogram> Count(OnnxModel model, IReadOnlyList<string> values, IEnumerable<TrainingBatch> batches)
    {
        ArgumentNullException.ThrowIfNull(model);
        var probe = IntermediateOutputs.Of(model.Proto, values, onlyWhatTheyNeed: true);
        var initialized = probe.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var histograms = values.ToDictionary(v => v, _ => new PreActivationHistogram(), StringComparer.Ordinal);
        using InferenceSession session = IntermediateOutputs.Open(probe, model);
        using var runOptions = new RunOptions();
        int counted = 0;
        foreach (TrainingBatch batch in batches)
        {
            var names = new List<string>();
            var feeds = new List<OrtValue>();
            foreach (string input in session.InputMetadata.Keys.Where(n => !initialized.Contains(n)))
            {
                if (!batch.Values.TryGetValue(input, out OrtValue? value))
                {
                    throw new UnsupportedModelException(model.FileName,
                        $"calibration has no value for input '{input}': the batches hold {string.Join(", ", batch.Values.Keys)}, and parameters need initial values in the graph");
                }
                names.Add(input);
                feeds.Add(value);
            }
            using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(runOptions, names, feeds, values.ToList());
            for (int i = 0; i < values.Count; i++)
            {
                histograms[values[i]].Add(Floats(outputs[i]));
            }
            counted++;
        }
        if (counted == 0) throw new ArgumentException("calibration needs at least one batch", nameof(batches));
        return histograms;
    }

    internal static ReadOnlySpan<float> Floats(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType switch
    {
        TensorElementType.Float => value.GetTensorDataAsSpan<float>(),
        TensorElementType.Float16 => value.GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h).ToArray(),
        TensorElementType.BFloat16 => value.GetTensorDataAsSpan<BFloat16>().ToArray().Select(h => (float)h).ToArray(),
        var other => throw new NotSupportedException($"activation inputs of type {other} cannot be calibrated"),
    };
}
