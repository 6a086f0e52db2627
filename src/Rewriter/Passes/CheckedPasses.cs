using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes;

/// <summary>
/// Says why a runtime refuses to load a model, or null when it loads it. The Runtime library
/// supplies ONNX Runtime's (<c>OnnxMemOpt.Runtime.Sessions.RuntimeLoadCheck</c>); this library
/// does not depend on the runtime.
/// </summary>
public delegate string? LoadRefusal(OnnxModel model);

/// <summary>
/// The passes with a validation step: a rewrite is only kept in a graph the runtime loads. The rule
/// it enforces: a model that ONNX Runtime loads is never turned into one it refuses; a candidate
/// whose rewrite would do that is skipped, with the runtime's reason. How:
/// <list type="number">
/// <item>All passes run as usual and the result is loaded once: the common case costs one load.</item>
/// <item>If the runtime refuses it but loads the input, the passes are replayed one at a time from
/// the input, each result loaded; a pass whose result is refused is re-run with its candidates
/// split in halves (apply a half; if that loads keep it, else split it again) until each refused
/// candidate stands alone. That costs about 2·log₂(n) loads for one bad candidate out of n, 2n for
/// all of them.</item>
/// <item>If candidates interact so that no such split loads, the pass is skipped whole, every
/// candidate reported with the reason.</item>
/// </list>
/// When the input itself does not load (a graph with ops only PyTorch has, say) there is nothing to
/// hold the output to, and the passes run unchecked.
/// </summary>
public static class CheckedPasses
{
    /// <summary>
    /// Runs <paramref name="passes"/> on <paramref name="model"/> in place, as
    /// <see cref="MemoryPasses.Run"/> does, keeping only rewrites after which
    /// <paramref name="refusal"/> still accepts the model (all of them, unchecked, when it refuses
    /// the input).
    /// </summary>
    /// <param name="model">The model to rewrite; on return it holds the checked result.</param>
    /// <param name="passes">Pass names of <see cref="MemoryPasses.All"/>, applied in the order given.</param>
    /// <param name="dims">Symbolic dimension values for shape inference, or null.</param>
    /// <param name="options">
    /// The user's choices, or null for the defaults; refusals found here go into a copy, never into
    /// this one.
    /// </param>
    /// <param name="refusal">The runtime's load check.</param>
    /// <returns>The rewrites kept, and skips that include each candidate refused with the runtime's reason.</returns>
    public static PassResult Run(OnnxModel model, IEnumerable<string> passes, DimBindings? dims, RewriteOptions? options, LoadRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(passes);
        ArgumentNullException.ThrowIfNull(refusal);
        options ??= new RewriteOptions();
        List<string> selected = [.. passes];
        ModelProto input = model.Proto.Clone();
        PassResult result = MemoryPasses.Run(model, selected, dims, options);
        if (!result.Changed || refusal(model) is null)
        {
            return result;
        }
        if (refusal(OnnxModel.FromProto(input.Clone(), model.FileName, model.BaseDirectory, model.Limits)) is not null)
        {
            model.RestoreFrom(input);
            return MemoryPasses.Run(model, selected, dims, options);
        }

        model.RestoreFrom(input);
        var checkedResult = new PassResult();
        foreach (string pass in selected)
        {
            checkedResult.Add(RunOne(model, pass, dims, options, refusal));
        }
        return checkedResult;
    }

    /// <summary>One pass on a model the runtime loads, leaving a model it loads.</summary>
    private static PassResult RunOne(OnnxModel model, string pass, DimBindings? dims, RewriteOptions options, LoadRefusal refusal)
    {
        ModelProto before = model.Proto.Clone();
        PassResult attempt = MemoryPasses.Run(model, [pass], dims, options);
        if (!attempt.Changed || refusal(model) is not { } reason)
        {
            return attempt;
        }
        var rules = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (RewriteRecord r in attempt.Rewrites.Where(r => r.Candidate is not null)) rules.TryAdd(r.Candidate!, r.Rule);
        List<string> candidates = [.. rules.Keys];
        var search = new CandidateSearch(model, before, pass, dims, options, refusal, rules);
        List<string> kept = search.Keep([], candidates, reason);
        PassResult final = search.Apply(kept, out string? stillRefused);
        if (stillRefused is null)
        {
            return final;
        }
        // The halves interact (a candidate loads alone but not with another): leave the pass out.
        model.RestoreFrom(before);
        var skipped = new PassResult();
        foreach (RewriteRecord r in attempt.Rewrites)
        {
            skipped.Skipped.Add(new SkipRecord(pass, r.Rule, r.Candidate ?? r.Node, Refused(stillRefused)));
        }
        return skipped;
    }

    private static string Refused(string runtimeReason) =>
        $"ONNX Runtime refuses the graph with this rewrite: {runtimeReason.ReplaceLineEndings(" ")}";

    /// <summary>The halving search of one pass's candidates; every trial starts again from the pass's input.</summary>
    private sealed class CandidateSearch(OnnxModel model, ModelProto before, string pass, DimBindings? dims, RewriteOptions options,
        LoadRefusal refusal, IReadOnlyDictionary<string, string> ruleOf)
    {
        private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);

        /// <summary>
        /// The members of <paramref name="group"/> that load together with <paramref name="kept"/>
        /// (which load without them); <paramref name="groupReason"/> is the refusal seen with all of them.
        /// </summary>
        public List<string> Keep(List<string> kept, List<string> group, string groupReason)
        {
            if (group.Count == 0)
            {
                return [];
            }
            if (group.Count == 1)
            {
                _refused[group[0]] = Refused(groupReason);
                return [];
            }
            List<string> first = group[..(group.Count / 2)], second = group[(group.Count / 2)..];
            List<string> keptFirst = Try([.. kept, .. first], out string? firstReason) ? first : Keep(kept, first, firstReason!);
            List<string> withFirst = [.. kept, .. keptFirst];
            List<string> keptSecond = Try([.. withFirst, .. second], out string? secondReason) ? second : Keep(withFirst, second, secondReason!);
            return [.. keptFirst, .. keptSecond];
        }

        /// <summary>The pass with only <paramref name="applied"/> of its candidates rewritten; <paramref name="reason"/> is the runtime's refusal, if any.</summary>
        public PassResult Apply(IReadOnlyCollection<string> applied, out string? reason)
        {
            model.RestoreFrom(before);
            var excluded = new HashSet<string>(ruleOf.Keys, StringComparer.Ordinal);
            excluded.ExceptWith(applied);
            List<CandidateRefusal> refusals = [.. options.Refused];
            foreach (string candidate in excluded)
            {
                refusals.Add(new CandidateRefusal(pass, candidate, _refused.GetValueOrDefault(candidate, "left out while another candidate was checked"), ruleOf[candidate]));
            }
            PassResult result = MemoryPasses.Run(model, [pass], dims, options with { Refused = refusals });
            reason = result.Changed ? refusal(model) : null;
            return result;
        }

        private bool Try(List<string> applied, out string? reason)
        {
            Apply(applied, out reason);
            return reason is null;
        }
    }
}
