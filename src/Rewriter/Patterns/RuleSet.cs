using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// Rules applied together to a fixed point: sweep the nodes in topological order, try every rule
/// on each node (in the order given), apply the first accepted match, and sweep again until a
/// sweep changes nothing. Refusals are kept with their reasons for the nodes still present at the end.
/// </summary>
public sealed class RuleSet(string pass, IReadOnlyList<RewriteRule> rules)
{
    /// <summary>Bound on sweeps: each accepted match removes nodes, so real graphs settle in a few.</summary>
    private const int MaxSweeps = 64;

    /// <summary>The pass the rules belong to, as reports and <see cref="RewriteOptions.Refused"/> name it.</summary>
    public string Pass { get; } = pass;

    /// <summary>The rules, in the order each node tries them.</summary>
    public IReadOnlyList<RewriteRule> Rules { get; } = rules;

    /// <summary>
    /// Applies the rules to <paramref name="context"/>'s graph to a fixed point and sorts its nodes;
    /// returns the rewrites and the refusals of the nodes left.
    /// </summary>
    public PassResult Apply(RewriteContext context)
    {
        var result = new PassResult();
        var refusals = new Dictionary<(string Rule, string Node), (OnnxNode Node, string Reason)>();
        for (int sweep = 0; sweep < MaxSweeps; sweep++)
        {
            bool changed = false;
            var removed = new HashSet<OnnxNode>(ReferenceEqualityComparer.Instance);
            foreach (OnnxNode node in context.Graph.TopologicalOrder())
            {
                if (removed.Contains(node))
                {
                    continue;
                }
                context.CheckTimeBudget();
                foreach (RewriteRule rule in Rules)
                {
                    if (TryRule(Pass, rule, node, context, refusals) is not { } applied)
                    {
                        continue;
                    }
                    foreach (OnnxNode gone in applied.Match.Nodes) removed.Add(gone);
                    context.InvalidatePhases();
                    result.Rewrites.Add(new RewriteRecord(Pass, rule.Name, applied.Outcome.Node, applied.Outcome.SavedBytes, applied.Outcome.Note) { Candidate = node.Label });
                    changed = true;
                    break;
                }
            }
            if (!changed)
            {
                break;
            }
            context.Invalidate();
        }
        var alive = new HashSet<OnnxNode>(context.Graph.Nodes, ReferenceEqualityComparer.Instance);
        foreach (var ((rule, _), (node, reason)) in refusals.OrderBy(r => r.Key.Node, StringComparer.Ordinal).ThenBy(r => r.Key.Rule, StringComparer.Ordinal))
        {
            if (alive.Contains(node))
            {
                result.Skipped.Add(new SkipRecord(Pass, rule, node.Label, reason));
            }
        }
        context.Graph.SortNodes();
        return result;
    }

    private static (PatternMatch Match, RuleOutcome Outcome)? TryRule(
        string pass, RewriteRule rule, OnnxNode node, RewriteContext context, Dictionary<(string, string), (OnnxNode, string)> refusals)
    {
        // A node an earlier rewrite of this sweep replaced no longer produces its output.
        if (node.Output(0) is not { } root || !ReferenceEquals(context.Graph.Producer(root), node) || !CouldMatch(rule.Pattern, node) || !rule.IsCandidate(node, context))
        {
            return null;
        }
        // A candidate refused from outside the rule (its rewrite made a graph ONNX Runtime refuses).
        if (context.Options.RefusalOf(pass, node.Label) is { } refused)
        {
            if (refused.Rule is null || refused.Rule == rule.Name)
            {
                refusals[(rule.Name, node.Label)] = (node, refused.Reason);
            }
            return null;
        }
        string? firstReason = null;
        foreach (Bindings bindings in rule.Pattern.Match(root, Bindings.Empty, context.Scope))
        {
            context.CheckTimeBudget();
            var match = new PatternMatch(node, bindings);
            string? reason = rule.ReplacesWholeMatch ? GraphEdits.EscapingValue(match) : null;
            reason ??= BroadcastingChain(rule, match, context);
            reason ??= rule.Check(match, context);
            if (reason is null)
            {
                RuleOutcome outcome = rule.Rewrite(match, context);
                refusals.Remove((rule.Name, node.Label));
                return (match, outcome);
            }
            firstReason ??= reason;
        }
        if (firstReason is not null)
        {
            refusals[(rule.Name, node.Label)] = (node, firstReason);
        }
        return null;
    }

    /// <summary>The refusal for a match whose output shape the replacement, keeping its input's shape, would not reproduce.</summary>
    private static string? BroadcastingChain(RewriteRule rule, PatternMatch match, RewriteContext context)
    {
        if (rule.ShapeKeptFrom(match) is not { } input || match.Root.Output(0) is not { } output) return null;
        if (context.TypeOf(input)?.Shape is { } inputShape && context.TypeOf(output)?.Shape is { } outputShape
            && inputShape.ProvablyDiffersFrom(outputShape))
        {
            return $"the chain broadcasts '{input}' {inputShape} to {outputShape}; the fused op would keep {inputShape}";
        }
        return null;
    }

    /// <summary>Cheap filter: the root node must have the op of (one of) the pattern's roots.</summary>
    private static bool CouldMatch(ValuePattern pattern, OnnxNode node) => pattern switch
    {
        NodeValue n => node.Is(n.OpType, n.Domain),
        OneOf any => any.Alternatives.Any(a => CouldMatch(a, node)),
        OptionalCast cast => node.Is("Cast") || CouldMatch(cast.Inner, node),
        _ => true,
    };
}
