using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// What a gradient rule sees while the backward graph is built: the emitter, the forward values'
/// inferred types, which values need a gradient, and the per-value list of gradient
/// contributions (summed with one Sum node once every consumer has contributed).
/// </summary>
public sealed class GradientContext
{
    private readonly IReadOnlyDictionary<string, TensorType> _types;
    private readonly IReadOnlySet<string> _needsGradient;
    private readonly Dictionary<string, List<string>> _contributions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> _finalGradients = new(StringComparer.Ordinal);

    /// <summary>A context with no gradient contributions yet.</summary>
    /// <param name="emit">The emitter every rule adds its nodes through.</param>
    /// <param name="types">The forward values' inferred types.</param>
    /// <param name="needsGradient">
    /// The values from <see cref="Differentiability.ValuesNeedingGradient"/>; contributions to others
    /// are dropped.
    /// </param>
    public GradientContext(GraphEmitter emit, IReadOnlyDictionary<string, TensorType> types, IReadOnlySet<string> needsGradient)
    {
        Emit = emit;
        _types = types;
        _needsGradient = needsGradient;
        Broadcast = new BroadcastReducer(this);
    }

    /// <summary>The emitter rules add backward nodes and constants through.</summary>
    public GraphEmitter Emit { get; }

    /// <summary>The graph being extended with its backward pass.</summary>
    public OnnxGraph Graph => Emit.Graph;

    /// <summary>The model's file name, for the refusals rules throw.</summary>
    public string ModelFile => Graph.Model.FileName;

    /// <summary>Reduces a gradient back to a broadcast input's shape.</summary>
    public BroadcastReducer Broadcast { get; }

    /// <summary>True when <paramref name="value"/> depends on a trainable parameter through differentiable ops.</summary>
    public bool NeedsGradient(string? value) => value is not null && _needsGradient.Contains(value);

    /// <summary>
    /// The inferred shape of a forward value, or null when unknown (or <paramref name="value"/> is
    /// null, an omitted input).
    /// </summary>
    public TensorShape? ShapeOf(string? value) => value is not null && _types.TryGetValue(value, out TensorType? t) ? t.Shape : null;

    /// <summary>Element type of a forward value; throws when inference could not tell (every differentiated value has one).</summary>
    public int ElementTypeOf(string value) =>
        _types.TryGetValue(value, out TensorType? t) && t.ElementType != 0
            ? t.ElementType
            : throw new UnsupportedModelException(ModelFile, $"the element type of '{value}' is unknown, so its gradient cannot be built");

    /// <summary>Rank of a forward value, or null when unknown.</summary>
    public int? RankOf(string? value) => ShapeOf(value)?.Rank;

    /// <summary>Int64 values of a constant (initializer or Constant node), or null.</summary>
    public long[]? ConstantInts(string? value) =>
        value is not null && Graph.ConstantTensor(value) is { } tensor ? TensorData.ToInt64s(tensor, Graph.Model) : null;

    /// <summary>Records one contribution to the gradient of <paramref name="value"/> (ignored when the value needs none).</summary>
    public void AddGradient(string? value, string gradient)
    {
        if (!NeedsGradient(value)) return;
        if (_finalGradients.ContainsKey(value!))
        {
            throw new InvalidOperationException($"gradient of '{value}' was already summed before a late contribution arrived");
        }
        if (!_contributions.TryGetValue(value!, out List<string>? list))
        {
            _contributions[value!] = list = [];
        }
        list.Add(gradient);
    }

    /// <summary>
    /// The gradient of <paramref name="value"/>: its single contribution, the Sum of several (named
    /// AccumulateGrad_&lt;value&gt;_grad as ONNX Runtime names them), or null when nothing reached it.
    /// Call only once every consumer of the value has been differentiated.
    /// </summary>
    public string? GradientOf(string value)
    {
        if (_finalGradients.TryGetValue(value, out string? done)) return done;
        string? result = null;
        if (_contributions.TryGetValue(value, out List<string>? list))
        {
            result = list.Count == 1
                ? list[0]
                : Emit.Op("Sum", list, value + "_grad", "", []);
            if (list.Count > 1)
            {
                // Name the accumulation node the way ONNX Runtime's gradient builder does.
                OnnxNode sum = Graph.Producer(result)!;
                sum.Proto.Name = Graph.UniqueName($"AccumulateGrad_{value}_grad");
            }
        }
        _finalGradients[value] = result;
        return result;
    }

    /// <summary>A hint for a new gradient value: "&lt;value&gt;_grad".</summary>
    public static string GradName(string value) => value + "_grad";
}
