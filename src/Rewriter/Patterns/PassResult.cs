namespace OnnxMemOpt.Patterns;

/// <summary>One substitution: which pass and rule, the node it produced, the activation bytes it frees (null when unknown).</summary>
public sealed record RewriteRecord(string Pass, string Rule, string Node, long? SavedBytes, string? Note = null)
{
    /// <summary>The label of the node the match was rooted at (what <see cref="RewriteOptions.Refused"/> names); null for passes without candidates.</summary>
    public string? Candidate { get; init; }
}

/// <summary>A candidate a pass looked at and left alone, with the reason in words.</summary>
public sealed record SkipRecord(string Pass, string Rule, string Node, string Reason);

/// <summary>What a pass (or a pipeline of passes) changed and what it refused.</summary>
public sealed class PassResult
{
    public List<RewriteRecord> Rewrites { get; } = [];

    public List<SkipRecord> Skipped { get; } = [];

    public bool Changed => Rewrites.Count > 0;

    public PassResult Add(PassResult other)
    {
        Rewrites.AddRange(other.Rewrites);
        Skipped.AddRange(other.Skipped);
        return this;
    }
}
