using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// One rewrite: a <see cref="Pattern"/> written as the computation it matches, a <see cref="Check"/>
/// that says in words why a match is refused, and a <see cref="Rewrite"/> that replaces it. Rules
/// are grouped in a <see cref="RuleSet"/> that applies them to a fixed point.
/// </summary>
public abstract class RewriteRule
{
    /// <summary>Name used in reports (e.g. "erf-gelu").</summary>
    public abstract string Name { get; }

    /// <summary>The computation to find; its root is output 0 of the node the rule set visits.</summary>
    public abstract ValuePattern Pattern { get; }

    /// <summary>
    /// True (the default) when the whole match is replaced: every value the match computes, other
    /// than the root, must then be read only inside the match.
    /// </summary>
    public virtual bool ReplacesWholeMatch => true;

    /// <summary>
    /// False for nodes the rule has nothing to say about although the pattern matches them (a rule on
    /// every Mul that only concerns the ones backward reads): they are passed over without a refusal.
    /// </summary>
    public virtual bool IsCandidate(OnnxNode root, RewriteContext context) => true;

    /// <summary>
    /// The matched value whose shape the replacement's output has, or null when the rule does not say.
    /// A fused activation or norm keeps its input's shape, while the chain it replaces broadcasts: a
    /// chain whose constants widen x (a one-element x times a [D] scale) must not be fused, and
    /// <see cref="RuleSet"/> refuses such a match before <see cref="Check"/> is asked.
    /// </summary>
    public virtual string? ShapeKeptFrom(PatternMatch match) => null;

    /// <summary>Null to accept the match, else the reason it is refused (shown to the user).</summary>
    public virtual string? Check(PatternMatch match, RewriteContext context) => null;

    /// <summary>Replaces the match and says what was done.</summary>
    public abstract RuleOutcome Rewrite(PatternMatch match, RewriteContext context);
}

/// <summary>What one application of a rule did: the node it produced, the activation bytes it frees (when known), a note.</summary>
/// <param name="Node">Name of the node the rewrite produced, as the report shows it.</param>
/// <param name="SavedBytes">Activation bytes backward no longer keeps, or null.</param>
/// <param name="Note">Details in words, or null.</param>
public sealed record RuleOutcome(string Node, long? SavedBytes = null, string? Note = null);
