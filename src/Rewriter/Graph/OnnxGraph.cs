using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>
/// The graph IR: nodes over the GraphProto they live in, with producer and consumer lookups, a
/// deterministic topological order and edits that keep the graph valid. Values read by nested
/// subgraphs (If/Loop/Scan bodies) count as inputs of the node that owns the subgraph, so liveness
/// and ordering see them; the bodies themselves are kept intact.
/// </summary>
public sealed class OnnxGraph
{
    private readonly List<OnnxNode> _nodes = [];
    private readonly Dictionary<string, OnnxNode> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<OnnxNode>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _usedNames = new(StringComparer.Ordinal);
    private int _nameCounter;

    internal OnnxGraph(GraphProto proto, OnnxGraph? parent, OnnxModel model)
    {
        Proto = proto;
        Parent = parent;
        Model = model;
        foreach (TensorProto initializer in proto.Initializer)
        {
            _initializers[initializer.Name] = initializer;
            _usedNames.Add(initializer.Name);
        }
        foreach (ValueInfoProto input in proto.Input) _usedNames.Add(input.Name);
        foreach (NodeProto node in proto.Node)
        {
            var wrapper = new OnnxNode(node, this);
            _nodes.Add(wrapper);
            Index(wrapper);
        }
    }

    /// <summary>
    /// The GraphProto this IR edits in place; change nodes through the graph's methods so the indices
    /// stay true.
    /// </summary>
    public GraphProto Proto { get; }

    /// <summary>The graph whose node owns this one as a subgraph body; null for a model's main graph.</summary>
    public OnnxGraph? Parent { get; }

    /// <summary>
    /// The model the graph belongs to: its file name goes into error messages and its folder resolves
    /// external data.
    /// </summary>
    public OnnxModel Model { get; }

    /// <summary>Nodes in file order.</summary>
    public IReadOnlyList<OnnxNode> Nodes => _nodes;

    /// <summary>
    /// Names of the graph's declared inputs, in declaration order (initializers listed as inputs
    /// included).
    /// </summary>
    public IEnumerable<string> InputNames => Proto.Input.Select(i => i.Name);

    /// <summary>Names of the graph's declared outputs, in declaration order.</summary>
    public IEnumerable<string> OutputNames => Proto.Output.Select(o => o.Name);

    /// <summary>
    /// Initializers by name. One that is also a graph input is overridable and so not a constant; see
    /// <see cref="ConstantTensor"/>.
    /// </summary>
    public IReadOnlyDictionary<string, TensorProto> Initializers => _initializers;

    /// <summary>The node that produces <paramref name="value"/> in this graph, or null (input, initializer, outer scope).</summary>
    public OnnxNode? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>Nodes of this graph that read <paramref name="value"/>, directly or through their subgraphs (each once).</summary>
    public IReadOnlyList<OnnxNode> Consumers(string value) =>
        _consumers.TryGetValue(value, out List<OnnxNode>? list) ? list.Distinct().ToList() : [];

    /// <summary>
    /// True when <paramref name="value"/> is a declared output, so it must keep its name and producer
    /// through every edit.
    /// </summary>
    public bool IsGraphOutput(string value) => Proto.Output.Any(o => o.Name == value);

    /// <summary>
    /// True when <paramref name="value"/> is a declared input (a caller may feed it, even if an
    /// initializer gives it a default).
    /// </summary>
    public bool IsGraphInput(string value) => Proto.Input.Any(i => i.Name == value);

    /// <summary>
    /// The initializer named <paramref name="name"/>, or null; unlike <see cref="ConstantTensor"/> it
    /// neither follows Identity nodes nor excludes overridable ones.
    /// </summary>
    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>
    /// A constant's values if <paramref name="value"/> is an initializer (not overridable by an
    /// input), a Constant node's output, or an Identity of either: PyTorch's exporter shares equal
    /// initializers (norm weights that are all ones, tied biases) by reading the first through
    /// Identity nodes, and such a value is as constant as the initializer behind it.
    /// </summary>
    public TensorProto? ConstantTensor(string value)
    {
        for (int hop = 0; hop <= MaxIdentityHops; hop++)
        {
            if (_initializers.TryGetValue(value, out TensorProto? tensor) && !IsGraphInput(value))
            {
                return tensor;
            }
            OnnxNode? node = Producer(value);
            if (node is not null && node.Is("Constant") && node.Attribute("value") is { T: { } t })
            {
                return t;
            }
            if (node is null || !node.Is("Identity") || node.Input(0) is not { } source)
            {
                return null;
            }
            value = source;
        }
        return null;
    }

    /// <summary>Identity chains longer than this (none in real exports) are not followed.</summary>
    private const int MaxIdentityHops = 16;

    /// <summary>
    /// Deterministic topological order: Kahn's algorithm taking, among ready nodes, the one that
    /// comes first in the file, so an already sorted graph keeps its order exactly.
    /// </summary>
    public IReadOnlyList<OnnxNode> TopologicalOrder()
    {
        var position = new Dictionary<OnnxNode, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _nodes.Count; i++) position[_nodes[i]] = i;
        var pending = new int[_nodes.Count];
        for (int i = 0; i < _nodes.Count; i++)
        {
            pending[i] = DependencyProducers(_nodes[i]).Count();
        }
        var ready = new SortedSet<int>();
        for (int i = 0; i < _nodes.Count; i++) if (pending[i] == 0) ready.Add(i);
        var order = new List<OnnxNode>(_nodes.Count);
        while (ready.Count > 0)
        {
            int next = ready.Min;
            ready.Remove(next);
            OnnxNode node = _nodes[next];
            order.Add(node);
            foreach (string output in node.Outputs)
            {
                foreach (OnnxNode consumer in Consumers(output).Distinct())
                {
                    int c = position[consumer];
                    int edges = DependencyInputs(consumer).Count(i => i == output);
                    pending[c] -= edges;
                    if (pending[c] == 0) ready.Add(c);
                }
            }
        }
        if (order.Count != _nodes.Count)
        {
            OnnxNode stuck = _nodes.First(n => !order.Contains(n));
            throw new InvalidModelException(Model.FileName, "the graph has a cycle through this node", stuck.Label);
        }
        return order;
    }

    /// <summary>Rewrites the GraphProto's node list into topological order (after edits that appended nodes).</summary>
    public void SortNodes()
    {
        IReadOnlyList<OnnxNode> order = TopologicalOrder();
        if (order.SequenceEqual(_nodes))
        {
            return;
        }
        _nodes.Clear();
        _nodes.AddRange(order);
        Proto.Node.Clear();
        Proto.Node.AddRange(order.Select(n => n.Proto));
    }

    /// <summary>
    /// Puts the nodes in <paramref name="order"/>, which must hold every node of the graph once
    /// and be topological (each node after the producers of what it reads).
    /// </summary>
    public void SetNodeOrder(IReadOnlyList<OnnxNode> order)
    {
        var members = new HashSet<OnnxNode>(_nodes, ReferenceEqualityComparer.Instance);
        var seen = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance);
        foreach (OnnxNode node in order)
        {
            if (!members.Contains(node) || DependencyProducers(node).Any(p => !seen.Contains(p)) || !seen.Add(node))
            {
                throw new InvalidOperationException($"node order is not a topological permutation of the graph's nodes (at {node.Label})");
            }
        }
        if (seen.Count != _nodes.Count)
        {
            throw new InvalidOperationException("node order leaves nodes out");
        }
        _nodes.Clear();
        _nodes.AddRange(order);
        Proto.Node.Clear();
        Proto.Node.AddRange(order.Select(n => n.Proto));
    }

    /// <summary>Adds a node (appended; call <see cref="SortNodes"/> when an edit is complete).</summary>
    public OnnxNode AddNode(NodeProto proto)
    {
        foreach (string output in proto.Output)
        {
            if (output.Length > 0 && (_producers.ContainsKey(output) || (_initializers.ContainsKey(output))))
            {
                throw new InvalidOperationException($"value '{output}' already has a producer");
            }
        }
        if (string.IsNullOrEmpty(proto.Name))
        {
            proto.Name = UniqueName(proto.OpType);
        }
        _usedNames.Add(proto.Name);
        foreach (string output in proto.Output) _usedNames.Add(output);
        Proto.Node.Add(proto);
        var node = new OnnxNode(proto, this);
        _nodes.Add(node);
        Index(node);
        return node;
    }

    /// <summary>Convenience: adds a node from its parts.</summary>
    public OnnxNode AddNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string domain = "", string? name = null, params AttributeProto[] attributes)
    {
        var proto = new NodeProto { OpType = opType, Domain = domain, Name = name ?? "" };
        proto.Input.AddRange(inputs);
        proto.Output.AddRange(outputs);
        proto.Attribute.AddRange(attributes);
        return AddNode(proto);
    }

    /// <summary>Removes a node. Its outputs must no longer be read (rewire consumers first).</summary>
    public void RemoveNode(OnnxNode node)
    {
        foreach (string output in node.Outputs)
        {
            if (output.Length > 0 && (Consumers(output).Count > 0 || IsGraphOutput(output)))
            {
                throw new InvalidOperationException($"cannot remove {node.Label}: its output '{output}' is still read");
            }
        }
        Unindex(node);
        _nodes.Remove(node);
        Proto.Node.Remove(node.Proto);
    }

    /// <summary>
    /// Replaces <paramref name="oldNodes"/> by <paramref name="replacements"/> in one edit, in place:
    /// the replacements take the file position of the earliest old node, so the execution order
    /// (which follows file order among ready nodes) keeps them where the old ones ran. They may
    /// produce the old nodes' output names again (readers and graph outputs keep their names); any
    /// old output that nothing produces afterwards must be unread.
    /// </summary>
    public IReadOnlyList<OnnxNode> ReplaceNodes(IReadOnlyCollection<OnnxNode> oldNodes, IEnumerable<NodeProto> replacements)
    {
        int position = oldNodes.Count == 0 ? _nodes.Count : oldNodes.Min(n => _nodes.IndexOf(n));
        foreach (OnnxNode node in oldNodes)
        {
            Unindex(node);
            _nodes.Remove(node);
            Proto.Node.Remove(node.Proto);
        }
        var added = InsertNodes(Math.Min(position, _nodes.Count), replacements);
        foreach (string output in oldNodes.SelectMany(n => n.Outputs))
        {
            if (output.Length > 0 && Producer(output) is null && (Consumers(output).Count > 0 || IsGraphOutput(output)))
            {
                throw new InvalidOperationException($"value '{output}' is still read but no replacement produces it");
            }
        }
        return added;
    }

    /// <summary>Adds nodes just before <paramref name="anchor"/> in file order (e.g. a recomputation before its first reader).</summary>
    public IReadOnlyList<OnnxNode> InsertNodesBefore(OnnxNode anchor, IEnumerable<NodeProto> nodes) =>
        InsertNodes(Math.Max(_nodes.IndexOf(anchor), 0), nodes);

    private List<OnnxNode> InsertNodes(int position, IEnumerable<NodeProto> nodes)
    {
        var added = new List<OnnxNode>();
        foreach (NodeProto proto in nodes)
        {
            OnnxNode node = AddNode(proto);
            _nodes.RemoveAt(_nodes.Count - 1);
            Proto.Node.RemoveAt(Proto.Node.Count - 1);
            _nodes.Insert(position + added.Count, node);
            Proto.Node.Insert(position + added.Count, proto);
            added.Add(node);
        }
        return added;
    }

    /// <summary>Removes nodes whose outputs are all unread (and not graph outputs), repeatedly.</summary>
    public int RemoveDeadNodes()
    {
        int removed = 0;
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int i = _nodes.Count - 1; i >= 0; i--)
            {
                OnnxNode node = _nodes[i];
                if (node.Outputs.All(o => o.Length == 0 || (Consumers(o).Count == 0 && !IsGraphOutput(o))))
                {
                    RemoveNode(node);
                    removed++;
                    changed = true;
                }
            }
        }
        return removed;
    }

    /// <summary>Makes every reader of <paramref name="oldValue"/> read <paramref name="newValue"/> (graph outputs included).</summary>
    public void ReplaceAllUses(string oldValue, string newValue)
    {
        foreach (OnnxNode consumer in Consumers(oldValue).ToList())
        {
            for (int i = 0; i < consumer.Proto.Input.Count; i++)
            {
                if (consumer.Proto.Input[i] == oldValue) SetNodeInput(consumer, i, newValue);
            }
            if (consumer.HasSubgraphs)
            {
                throw new UnsupportedModelException(Model.FileName, $"value '{oldValue}' is read inside a subgraph; rewiring into subgraphs is not supported", consumer.Label);
            }
        }
        foreach (ValueInfoProto output in Proto.Output)
        {
            if (output.Name == oldValue)
            {
                // Keep the graph's interface name: route the new value through an Identity.
                AddNode("Identity", [newValue], [oldValue]);
            }
        }
    }

    /// <summary>
    /// Adds <paramref name="tensor"/> as an initializer; throws <see cref="InvalidOperationException"/>
    /// when its name already names an initializer, a node output or a graph input.
    /// </summary>
    public void AddInitializer(TensorProto tensor)
    {
        // A name reserved by UniqueName is fine; one that already names a value is not.
        _usedNames.Add(tensor.Name);
        if (_initializers.ContainsKey(tensor.Name) || _producers.ContainsKey(tensor.Name) || IsGraphInput(tensor.Name))
        {
            throw new InvalidOperationException($"name '{tensor.Name}' is already used");
        }
        Proto.Initializer.Add(tensor);
        _initializers[tensor.Name] = tensor;
    }

    /// <summary>
    /// Removes the initializer named <paramref name="name"/> if there is one; its readers are not
    /// checked, so rewire them first.
    /// </summary>
    public void RemoveInitializer(string name)
    {
        if (_initializers.Remove(name, out TensorProto? tensor))
        {
            Proto.Initializer.Remove(tensor);
        }
    }

    /// <summary>A value or node name not yet used in this graph, derived from <paramref name="hint"/>.</summary>
    public string UniqueName(string hint)
    {
        string candidate = hint;
        while (_usedNames.Contains(candidate) || _producers.ContainsKey(candidate))
        {
            candidate = $"{hint}_{++_nameCounter}";
        }
        _usedNames.Add(candidate);
        return candidate;
    }

    internal void SetNodeInput(OnnxNode node, int index, string value)
    {
        string old = node.Proto.Input[index];
        node.Proto.Input[index] = value;
        if (old.Length > 0 && _consumers.TryGetValue(old, out List<OnnxNode>? list))
        {
            list.Remove(node);
        }
        if (value.Length > 0)
        {
            AddConsumer(value, node);
        }
    }

    /// <summary>Values a node depends on: its inputs plus outer-scope values its subgraphs read.</summary>
    public static IEnumerable<string> DependencyInputs(OnnxNode node)
    {
        foreach (string input in node.Inputs)
        {
            if (input.Length > 0) yield return input;
        }
        foreach (GraphProto body in node.SubgraphProtos())
        {
            foreach (string outer in ModelValidator.OuterReferences(body)) yield return outer;
        }
    }

    private IEnumerable<OnnxNode> DependencyProducers(OnnxNode node) =>
        DependencyInputs(node).Select(Producer).OfType<OnnxNode>();

    private void Index(OnnxNode node)
    {
        foreach (string output in node.Outputs)
        {
            if (output.Length > 0)
            {
                _producers[output] = node;
                _usedNames.Add(output);
            }
        }
        foreach (string input in DependencyInputs(node))
        {
            AddConsumer(input, node);
        }
        if (node.Name.Length > 0) _usedNames.Add(node.Name);
    }

    private void Unindex(OnnxNode node)
    {
        foreach (string output in node.Outputs)
        {
            if (output.Length > 0 && _producers.TryGetValue(output, out OnnxNode? p) && ReferenceEquals(p, node))
            {
                _producers.Remove(output);
            }
        }
        foreach (string input in DependencyInputs(node))
        {
            if (_consumers.TryGetValue(input, out List<OnnxNode>? list)) list.Remove(node);
        }
    }

    private void AddConsumer(string value, OnnxNode node)
    {
        if (!_consumers.TryGetValue(value, out List<OnnxNode>? list))
        {
            _consumers[value] = list = [];
        }
        list.Add(node);
    }
}
