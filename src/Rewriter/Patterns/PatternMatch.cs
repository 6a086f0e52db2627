using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>A complete match of a rule's pattern, rooted at <see cref="Root"/>.</summary>
public sealed class PatternMatch(OnnxNode root, Bindings bindings)
{
    /// <summary>
    /// The node whose output 0 the pattern's root matched: the candidate reports name and
    /// <see cref="RewriteOptions.Refused"/> addresses.
    /// </summary>
    public OnnxNode Root { get; } = root;

    /// <summary>Every node the pattern covers, the root included.</summary>
    public IReadOnlyList<OnnxNode> Nodes => bindings.Nodes;

    /// <summary>The value bound to <paramref name="pattern"/>.</summary>
    public string this[ValuePattern pattern] =>
        bindings.ValueOf(pattern) ?? throw new InvalidOperationException($"pattern {pattern} is not bound in this match");

    /// <summary>
    /// The value bound to <paramref name="pattern"/>, or null when the match took a branch without it
    /// (an alternative of a <see cref="OneOf"/>).
    /// </summary>
    public string? TryGet(ValuePattern pattern) => bindings.ValueOf(pattern);

    /// <summary>The node that produced the value bound to <paramref name="pattern"/>.</summary>
    public OnnxNode NodeOf(ValuePattern pattern) =>
        Root.Graph.Producer(this[pattern]) ?? throw new InvalidOperationException($"value of {pattern} has no producer");
}
