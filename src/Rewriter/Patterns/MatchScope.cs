using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Patterns;

/// <summary>The graph a pattern is matched in, with a cache of decoded constants.</summary>
public sealed class MatchScope(OnnxGraph graph)
{
    private readonly Dictionary<string, double[]?> _constants = new(StringComparer.Ordinal);

    /// <summary>The graph whose values patterns are matched against.</summary>
    public OnnxGraph Graph { get; } = graph;

    /// <summary>
    /// The values of a small constant (at most 4096 elements), or null when the value is not a
    /// constant or its data cannot be read (external data that is missing must not stop a match).
    /// </summary>
    public double[]? ConstantValues(string value)
    {
        if (_constants.TryGetValue(value, out double[]? cached))
        {
            return cached;
        }
        double[]? values = null;
        if (Graph.ConstantTensor(value) is { } tensor && TensorData.ElementCount(tensor) <= 4096 && !TensorData.IsExternal(tensor))
        {
            try
            {
                values = TensorData.ToDoubles(tensor, Graph.Model);
            }
            catch (ModelException)
            {
                values = null;
            }
        }
        _constants[value] = values;
        return values;
    }
}
