using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Sessions;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>One compared element: the graph's gradient and the finite-difference estimate.</summary>
/// <param name="Parameter">The parameter (graph input with an initializer and a '&lt;name&gt;_grad' output).</param>
/// <param name="Index">The element's flat index in the parameter.</param>
/// <param name="Analytic">The graph's gradient for the element.</param>
/// <param name="Numeric">The finite-difference estimate of the loss's derivative.</param>
/// <param name="RelErr">|Analytic − Numeric| over the larger of the two, at least a floor below which gradients count as zero.</param>
public sealed record GradientSample(string Parameter, long Index, double Analytic, double Numeric, double RelErr);

/// <summary>The outcome of a gradient check.</summary>
/// <param name="MaxRelErr">The worst relative error of the samples.</param>
/// <param name="Samples">Every compared element.</param>
public sealed record GradientCheckResult(double MaxRelErr, IReadOnlyList<GradientSample> Samples)
{
    /// <summary>How many elements were compared.</summary>
    public int Checked => Samples.Count;
}

/// <summary>
/// Compares a training graph's gradients with finite differences of its loss, on ONNX Runtime with
/// the project's custom-op library. The graph follows <c>train-graph</c>'s conventions: parameters
/// are inputs with an initializer and a "&lt;param&gt;_grad" output; the loss is output "loss" (or
/// the first output). The estimate is a Richardson-extrapolated central difference,
/// (4·D(h/2) − D(h))/3 with D(h) = (L(θ+h) − L(θ−h))/2h, accurate to O(h⁴), which lets float32
/// graphs use a step large enough to keep rounding noise small. Training-mode Dropout masks are
/// drawn once and held fixed (<see cref="FrozenDropout"/>).
/// </summary>
public sealed class GradientChecker : IDisposable
{
    private readonly InferenceSession _session;
    private readonly Dictionary<string, Feed> _feeds = new(StringComparer.Ordinal);
    private readonly string _loss;
    private readonly Random _random;

    /// <summary>
    /// A checker on <paramref name="model"/>: inputs without an initializer are drawn from
    /// <paramref name="seed"/> (symbolic dims from <paramref name="dims"/>, else 2); all-zero
    /// parameters (LoRA B) are replaced by uniform values in ±<paramref name="randomizeZeroParameters"/>
    /// when it is positive; <paramref name="float64"/> checks a float64 copy (<see cref="Float64Copy"/>).
    /// ONNX Runtime's refusal to open the graph surfaces as <see cref="OnnxRuntimeException"/>.
    /// </summary>
    public GradientChecker(OnnxModel model, DimBindings? dims = null, int seed = 1234, double randomizeZeroParameters = 0, bool float64 = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        Float64 = float64;
        _random = new Random(seed);
        if (float64) model = Float64Copy.Convert(model);
        GraphProto graph = model.Proto.Graph;
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        _loss = outputs.Contains("loss") ? "loss" : graph.Output[0].Name;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (ValueInfoProto input in graph.Input)
        {
            if (initializers.TryGetValue(input.Name, out TensorProto? init) && outputs.Contains(input.Name + "_grad"))
            {
                double[] values = TensorData.ToDoubles(init, model);
                if (randomizeZeroParameters > 0 && values.All(v => v == 0))
                {
                    for (int i = 0; i < values.Length; i++) values[i] = (_random.NextDouble() * 2 - 1) * randomizeZeroParameters;
                }
                _feeds[input.Name] = new Feed(init.DataType, [.. init.Dims], values, IsParameter: true);
                Parameters.Add(input.Name);
            }
            else if (!initializers.ContainsKey(input.Name))
            {
                _feeds[input.Name] = RandomFeed(input, dims ?? DimBindings.None);
            }
        }
        if (Parameters.Count == 0)
        {
            throw new UnsupportedModelException(model.FileName, "the model has no parameters with gradients (inputs with an initializer and a '<name>_grad' output)");
        }
        // A finite difference of a loss under Dropout would measure two masks, not one parameter:
        // every run reads the masks of one first run instead.
        if (FrozenDropout.Capture(model, Inputs()) is { } masks)
        {
            model = masks.Apply(model);
            foreach (NamedOnnxValue mask in masks.Feeds)
            {
                var tensor = (DenseTensor<bool>)mask.Value;
                _feeds[mask.Name] = new Feed(ElementTypes.Bool, tensor.Dimensions.ToArray().Select(d => (long)d).ToArray(), tensor.Buffer.ToArray().Select(v => v ? 1.0 : 0.0).ToArray(), IsParameter: false);
            }
        }
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        options.IntraOpNumThreads = 1;
        // Parameters are inputs that keep their initial values as initializers, which ONNX Runtime
        // warns about once per parameter; the warning says nothing about the check.
        options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        _session = ModelSessions.Open(model, options);
    }

    /// <summary>
    /// A checker on a float64 copy of the graph, or on the graph in its own precision when some op
    /// of the copy has no float64 kernel; <see cref="Float64"/> says which.
    /// </summary>
    public static GradientChecker PreferringFloat64(OnnxModel model, DimBindings? dims = null, int seed = 1234, double randomizeZeroParameters = 0)
    {
        try
        {
            return new GradientChecker(model, dims, seed, randomizeZeroParameters, float64: true);
        }
        catch (OnnxRuntimeException)
        {
            return new GradientChecker(model, dims, seed, randomizeZeroParameters, float64: false);
        }
    }

    /// <summary>Whether the check runs on a float64 copy rather than the graph's own precision.</summary>
    public bool Float64 { get; }

    /// <summary>The parameters the check can sample: inputs with an initializer and a '&lt;name&gt;_grad' output.</summary>
    public List<string> Parameters { get; } = [];

    /// <summary>Replaces an input's value (e.g. fixed token ids or labels).</summary>
    public void SetInput(string name, int elementType, long[] dims, double[] values) =>
        _feeds[name] = new Feed(elementType, dims, values, _feeds.TryGetValue(name, out Feed? f) && f.IsParameter);

    /// <summary>Elements picked at random: a parameter uniformly, then an element of it uniformly.</summary>
    public IReadOnlyList<(string Parameter, long Index)> Sample(int count, Func<string, bool>? filter = null)
    {
        var pool = Parameters.Where(p => filter?.Invoke(p) ?? true).ToList();
        if (pool.Count == 0) throw new ArgumentException("no parameter matches the filter");
        var picks = new List<(string, long)>();
        for (int i = 0; i < count; i++)
        {
            string p = pool[_random.Next(pool.Count)];
            picks.Add((p, _random.NextInt64(_feeds[p].Values.Length)));
        }
        return picks;
    }

    /// <summary>Compares the graph's gradient with the finite-difference estimate at each element.</summary>
    public GradientCheckResult Check(IReadOnlyList<(string Parameter, long Index)> elements)
    {
        Dictionary<string, double[]> analytic = RunGradients(elements.Select(e => e.Parameter).Distinct());
        var samples = new List<GradientSample>();
        // Gradients far below the largest one checked are zero at the loss's precision (a key
        // bias under softmax, say): relative errors are measured against at least this floor.
        double largest = elements.Select(e => Math.Abs(analytic[e.Parameter][e.Index])).DefaultIfEmpty(0).Max();
        foreach ((string p, long index) in elements)
        {
            Feed feed = _feeds[p];
            // Richardson's O(h⁴) truncation allows steps large enough to stay clear of rounding
            // noise. In float64 the noise is ~1e-16·|L|/h, so h = 1e-3 keeps both terms near 1e-12;
            // h = 1e-2 left a truncation error of ~3e-10, 2.8e-4 of a gradient of 1.4e-7 at the floor.
            double h = (feed.ElementType == ElementTypes.Double ? 1e-2 : 5e-2) * Math.Max(1.0, Math.Abs(feed.Values[index]));
            double numeric = (4 * Central(p, index, h / 2) - Central(p, index, h)) / 3;
            double a = analytic[p][index];
            double floor = feed.ElementType == ElementTypes.Double ? Math.Max(1e-10, 1e-6 * largest) : Math.Max(1e-6, 1e-4 * largest);
            double rel = Math.Abs(a - numeric) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), floor);
            samples.Add(new GradientSample(p, index, a, numeric, rel));
        }
        return new GradientCheckResult(samples.Count == 0 ? 0 : samples.Max(s => s.RelErr), samples);
    }

    /// <summary>The loss at the current parameter values.</summary>
    public double Loss() => RunLoss();

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();

    private double Central(string parameter, long index, double h)
    {
        double[] values = _feeds[parameter].Values;
        double saved = values[index];
        try
        {
            values[index] = saved + h;
            double plus = RunLoss();
            values[index] = saved - h;
            double minus = RunLoss();
            return (plus - minus) / (2 * h);
        }
        finally
        {
            values[index] = saved;
        }
    }

    private double RunLoss()
    {
        using var results = _session.Run(Inputs(), [_loss]);
        return ToDoubles(results[0])[0];
    }

    private Dictionary<string, double[]> RunGradients(IEnumerable<string> parameters)
    {
        var names = parameters.ToList();
        using var results = _session.Run(Inputs(), names.Select(p => p + "_grad").ToArray());
        var gradients = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++) gradients[names[i]] = ToDoubles(results[i]);
        return gradients;
    }

    private List<NamedOnnxValue> Inputs() => _feeds.Select(p => p.Value.ToNamedValue(p.Key)).ToList();

    private static double[] ToDoubles(DisposableNamedOnnxValue value) => value.Value switch
    {
        Tensor<float> t => t.ToArray().Select(v => (double)v).ToArray(),
        Tensor<double> t => t.ToArray(),
        _ => throw new InvalidOperationException($"output '{value.Name}' is not a float or double tensor"),
    };

    private Feed RandomFeed(ValueInfoProto input, DimBindings dims)
    {
        int type = input.Type?.TensorType?.ElemType ?? ElementTypes.Float;
        long[] shape = input.Type?.TensorType?.Shape?.Dim.Select(d =>
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue
            : dims.Values.TryGetValue(d.DimParam, out long v) ? v : 2).ToArray() ?? [];
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[count];
        bool mask = input.Name.Contains("mask", StringComparison.OrdinalIgnoreCase);
        for (long i = 0; i < count; i++)
        {
            // Integer inputs (token ids, labels, masks) get 0/1: valid for any vocabulary or class count ≥ 2.
            values[i] = ElementTypes.IsFloatingPoint(type) ? _random.NextDouble() * 2 - 1 : mask ? 1 : _random.Next(2);
        }
        return new Feed(type, shape, values, IsParameter: false);
    }

    private sealed record Feed(int ElementType, long[] Dims, double[] Values, bool IsParameter)
    {
        public NamedOnnxValue ToNamedValue(string name)
        {
            int[] dims = Dims.Select(d => checked((int)d)).ToArray();
            return ElementType switch
            {
                ElementTypes.Float => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(Values.Select(v => (float)v).ToArray(), dims)),
                ElementTypes.Double => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<double>(Values.ToArray(), dims)),
                ElementTypes.Int64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(Values.Select(v => (long)v).ToArray(), dims)),
                ElementTypes.Int32 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<int>(Values.Select(v => (int)v).ToArray(), dims)),
                ElementTypes.Bool => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<bool>(Values.Select(v => v != 0).ToArray(), dims)),
                _ => throw new UnsupportedModelException(name, $"input of type {ElementTypes.Name(ElementType)} cannot be fed by gradcheck"),
            };
        }
    }
}
