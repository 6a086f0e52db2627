namespace OnnxMemOpt.Patterns;

/// <summary>One substitution: which pass and rule, the node it produced, the activation bytes it frees (null when unknown).</summary>
/// <param name="Pass">The pass, as `--passes` names it.</param>
/// <param name="Rule">The rule that made the substitution.</param>
/// <param name="Node">The node it produced (or, for passes without one, what was changed).</param>
/// <param name="SavedBytes">Activation bytes backward no longer keeps, or null when unknown or not the point.</param>
/// <param name="Note">Details in words (what was folded, kept exact, ...), or null.</param>
public sealed record RewriteRecord(string Pass, string Rule, string Node, long? SavedBytes, string? Note = null)
{
    /// <summary>The label of the node the match was rooted at (what <see cref="RewriteOptions.Refused"/> names); null for passes without candidates.</summary>
    public string? Candidate { get; init; }
}

/// <summary>A candidate a pass looked at and left alone, with the reason in words.</summary>
/// <param name="Pass">The pass, as `--passes` names it.</param>
/// <param name="Rule">The rule that refused the candidate.</param>
/// <param name="Node">Label of the candidate's root node.</param>
/// <param name="Reason">Why it was left alone.</param>
public sealed record SkipRecord(string Pass, string Rule, string Node, string Reason);

/// <summary>What a pass (or a pipeline of passes) changed and what it refused.</summary>
public sealed class PassResult
{
    /// <summary>Every substitution, in the order it was made.</summary>
    public List<RewriteRecord> Rewrites { get; } = [];

    /// <summary>
    /// Candidates left alone, with their reasons; the report shows them so that a user sees why a layer
    /// was not rewritten.
    /// </summary>
    public List<SkipRecord> Skipped { get; } = [];

    /// <summary>True when some rewrite was made, i.e. the graph differs from the input.</summary>
    public bool Changed => Rewrites.Count > 0;

    /// <summary>
    /// Appends <paramref name="other"/>'s records to this result, for a pipeline of passes; returns
    /// this result.
    /// </summary>
    public PassResult Add(PassResult other)
    {
        Rewrites.AddRange(other.Rewrites);
        Skipped.AddRange(other.Skipped);
        return this;
    }
}
