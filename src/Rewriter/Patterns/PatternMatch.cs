using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>A complete match of a rule's pattern, rooted at <see cref="Root"/>.</summary>
public sealed class PatternMatch(OnnxNode root, Bindings bindings)
{
    public OnnxNode Root { get; } = root;

    /// <summary>Every node the pattern covers, the root included.</summary>
    public IReadOnlyList<OnnxNode> Nodes => bindings.Nodes;

    /// <summary>The value bound to <paramref name="pattern"/>.</summary>
    public string this[ValuePattern pattern] =>
        bindings.ValueOf(pattern) ?? throw new InvalidOperationException($"pattern {pattern} is not bound in this match");

    public string? TryGet(ValuePattern pattern) => bindings.ValueOf(pattern);

    /// <summary>The node that produced the value bound to <paramref name="pattern"/>.</summary>
    public OnnxNode NodeOf(ValuePattern pattern) =>
        Root.Graph.Producer(this[pattern]) ?? throw new InvalidOperationException($"value of {pattern} has no producer");
}
