using System.Collections.Immutable;
using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// What a partial match has bound so far: a value per pattern object and the nodes it covers.
/// Immutable, so that backtracking simply drops a branch's bindings.
/// </summary>
public sealed class Bindings
{
    /// <summary>Nothing bound yet: where every match of a rule's pattern starts.</summary>
    public static Bindings Empty { get; } = new(
        ImmutableDictionary.Create<ValuePattern, string>(ReferenceEqualityComparer.Instance),
        ImmutableList<OnnxNode>.Empty);

    private readonly ImmutableDictionary<ValuePattern, string> _values;

    private Bindings(ImmutableDictionary<ValuePattern, string> values, ImmutableList<OnnxNode> nodes)
    {
        _values = values;
        Nodes = nodes;
    }

    /// <summary>The nodes the match covers (each once), in the order they were reached from the root.</summary>
    public ImmutableList<OnnxNode> Nodes { get; }

    /// <summary>
    /// The value bound to <paramref name="pattern"/> (compared by reference), or null while it is
    /// unbound.
    /// </summary>
    public string? ValueOf(ValuePattern pattern) => _values.GetValueOrDefault(pattern);

    internal Bindings Bind(ValuePattern pattern, string value) =>
        _values.ContainsKey(pattern) ? this : new Bindings(_values.SetItem(pattern, value), Nodes);

    internal Bindings WithNode(OnnxNode node) =>
        Nodes.Contains(node, ReferenceEqualityComparer.Instance) ? this : new Bindings(_values, Nodes.Add(node));
}
