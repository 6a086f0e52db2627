using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// The affine y = γ⊙ẑ + β of a norm that MS-LN / MS-RMSNorm rewrites: the names of γ, β (none for
/// RMSNorm), ẑ and y, the width k of the normalised (last) axis, and γ, β laid out to broadcast
/// against the [k, n] or [n, k] products of a weight gradient.
/// </summary>
internal sealed class NormAffine(RewriteContext context, string scale, string? bias, string normalized, string output, long? width, string scope)
{
    private readonly Dictionary<string, string> _columns = new(StringComparer.Ordinal);

    public string Scale { get; } = scale;

    public string? Bias { get; } = bias;

    /// <summary>ẑ, the normalised value the rewritten norm outputs.</summary>
    public string Normalized { get; } = normalized;

    /// <summary>y, the norm's original output.</summary>
    public string Output { get; } = output;

    /// <summary>k, when the input's last axis is known.</summary>
    public long? Width { get; } = width;

    public string Scope { get; } = scope;

    private OnnxGraph Graph => context.Graph;

    /// <summary>γ and β are constants (not graph inputs): the affine may be folded offline.</summary>
    public bool IsFrozen => Graph.ConstantTensor(Scale) is not null && (Bias is null || Graph.ConstantTensor(Bias) is not null);

    /// <summary>γ's values in float64 (frozen only).</summary>
    public double[] ScaleValues() => TensorData.ToDoubles(Graph.ConstantTensor(Scale)!, context.Model);

    /// <summary>β's values in float64 (frozen only).</summary>
    public double[] BiasValues() => TensorData.ToDoubles(Graph.ConstantTensor(Bias!)!, context.Model);

    /// <summary>
    /// <paramref name="parameter"/> (γ or β, shape [k]) laid along axis <paramref name="axis"/> of a
    /// product: as it is for the last axis (−1), as [k, 1] for the one before (−2). A frozen
    /// parameter gets an initializer, a trainable one a Reshape added to <paramref name="nodes"/>
    /// (each once per norm).
    /// </summary>
    public string AlongAxis(string parameter, int axis, List<NodeProto> nodes)
    {
        if (axis == -1)
        {
            return parameter;
        }
        if (_columns.TryGetValue(parameter, out string? column))
        {
            return column;
        }
        column = Graph.UniqueName($"{parameter}_column");
        if (Graph.ConstantTensor(parameter) is { } tensor)
        {
            double[] values = TensorData.ToDoubles(tensor, context.Model);
            Graph.AddInitializer(TensorData.Create(column, tensor.DataType, [values.Length, 1], values));
        }
        else
        {
            // One Reshape per norm and parameter; the rule set sorts the graph afterwards, so later
            // readers may sit anywhere.
            string shape = Graph.UniqueName($"{Scope}/ColumnShape");
            Graph.AddInitializer(TensorData.CreateInt64(shape, [2], [-1, 1]));
            nodes.Add(GraphEdits.Node("Reshape", "", Graph.UniqueName($"{Scope}/Column"), [parameter, shape], [column]));
        }
        _columns[parameter] = column;
        return column;
    }

    /// <summary>Nodes computing γ⊙ẑ + β (γ⊙ẑ without β) into <paramref name="result"/>.</summary>
    public IEnumerable<NodeProto> Apply(string result, string name)
    {
        if (Bias is null)
        {
            yield return GraphEdits.Node("Mul", "", Graph.UniqueName($"{name}/Mul"), [Normalized, Scale], [result]);
            yield break;
        }
        string scaled = Graph.UniqueName($"{result}_scaled");
        yield return GraphEdits.Node("Mul", "", Graph.UniqueName($"{name}/Mul"), [Normalized, Scale], [scaled]);
        yield return GraphEdits.Node("Add", "", Graph.UniqueName($"{name}/Add"), [scaled, Bias], [result]);
    }
}
