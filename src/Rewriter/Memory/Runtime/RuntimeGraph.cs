using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// The graph that ONNX Runtime plans memory for: its nodes by NodeIndex (indices may have gaps, as
/// in the runtime's own node table after its optimisations remove nodes), which values are graph inputs, outputs and constants
/// (initializers and Constant outputs, never allocated from the arena during a run), and every
/// value's type with the shapes bound by the caller.
/// </summary>
public sealed class RuntimeGraph
{
    private const long MaxSmallConstant = 64;

    private readonly List<RuntimeNode?> _nodes;
    private readonly Dictionary<string, RuntimeNode> _producers = new(StringComparer.Ordinal);

    /// <summary>A graph from its parts; throws <see cref="ArgumentException"/> when two nodes share an index.</summary>
    /// <param name="nodes">The nodes, in any order; each <see cref="RuntimeNode.Index"/> must be distinct.</param>
    /// <param name="inputs">Graph inputs: fed by the caller, never taken from the arena.</param>
    /// <param name="outputs">Graph outputs: allocated by the run and never freed during it.</param>
    /// <param name="constants">Initializers that are not inputs, and Constant outputs.</param>
    /// <param name="types">Every known value's type, with symbols bound.</param>
    /// <param name="smallIntConstants">Values of small int64 constants, for shape inference; none when null.</param>
    public RuntimeGraph(
        IEnumerable<RuntimeNode> nodes,
        IReadOnlySet<string> inputs,
        IReadOnlySet<string> outputs,
        IReadOnlySet<string> constants,
        IReadOnlyDictionary<string, TensorType> types,
        IReadOnlyDictionary<string, long[]>? smallIntConstants = null)
    {
        _nodes = [];
        foreach (RuntimeNode node in nodes) Put(node);
        Inputs = inputs;
        Outputs = outputs;
        Constants = constants;
        Types = types;
        SmallIntConstants = smallIntConstants ?? new Dictionary<string, long[]>();
    }

    /// <summary>Values of the small int64 constants (Reshape targets and the like), which shape inference reads.</summary>
    public IReadOnlyDictionary<string, long[]> SmallIntConstants { get; }

    /// <summary>Names of the graph inputs, which the caller binds and the arena does not allocate.</summary>
    public IReadOnlySet<string> Inputs { get; }

    /// <summary>
    /// Names of the graph outputs: the run allocates them and hands them to the caller, so their
    /// buffers are never freed or reused.
    /// </summary>
    public IReadOnlySet<string> Outputs { get; }

    /// <summary>
    /// Names of the initializers (those that are not inputs) and Constant outputs, held outside the
    /// run's arena.
    /// </summary>
    public IReadOnlySet<string> Constants { get; }

    /// <summary>Type of each value the caller's shape inference reached, with symbols bound.</summary>
    public IReadOnlyDictionary<string, TensorType> Types { get; }

    /// <summary>The nodes in NodeIndex order.</summary>
    public IEnumerable<RuntimeNode> Nodes => _nodes.OfType<RuntimeNode>();

    /// <summary>
    /// The node that produces <paramref name="value"/>, or null for inputs, constants and unknown
    /// names.
    /// </summary>
    public RuntimeNode? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>True for values that live outside the run's arena: graph inputs and constants.</summary>
    public bool IsPreExisting(string value) => Inputs.Contains(value) || Constants.Contains(value);

    /// <summary>Size of <paramref name="value"/> in bytes, or null when its type or a dimension is unknown.</summary>
    public long? Bytes(string value) => Types.TryGetValue(value, out TensorType? t) ? t.ByteSize : null;

    private void Put(RuntimeNode node)
    {
        while (_nodes.Count <= node.Index) _nodes.Add(null);
        if (_nodes[node.Index] is not null) throw new ArgumentException($"two nodes with index {node.Index}");
        _nodes[node.Index] = node;
        foreach (string output in node.PresentOutputs) _producers[output] = node;
    }

    /// <summary>
    /// The graph as ONNX Runtime loads <paramref name="graph"/>. Its Graph constructor turns every
    /// Constant node into an initializer and drops it before adding the other nodes in file order,
    /// so a node's index is its position among the non-Constant nodes.
    /// </summary>
    public static RuntimeGraph Of(OnnxGraph graph, IReadOnlyDictionary<string, TensorType> types)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var nodes = graph.Nodes.Where(n => !n.Is("Constant"))
            .Select((n, i) => new RuntimeNode(i, n.Label, n.Domain, n.OpType, n.Inputs.ToArray(), n.Outputs.ToArray()));
        var inputs = graph.InputNames.ToHashSet(StringComparer.Ordinal);
        var constants = graph.Proto.Initializer.Select(i => i.Name).Where(n => !inputs.Contains(n)).ToHashSet(StringComparer.Ordinal);
        foreach (OnnxNode node in graph.Nodes.Where(n => n.Is("Constant"))) constants.UnionWith(node.Outputs);
        var ints = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (string constant in constants)
        {
            if (graph.ConstantTensor(constant) is { DataType: (int)TensorProto.Types.DataType.Int64 } tensor
                && tensor.Dims.Aggregate(1L, (a, d) => a * d) <= MaxSmallConstant)
            {
                ints[constant] = TensorData.ToInt64s(tensor, graph.Model);
            }
        }
        return new RuntimeGraph(nodes, inputs, graph.OutputNames.ToHashSet(StringComparer.Ordinal), constants, types, ints);
    }
}
