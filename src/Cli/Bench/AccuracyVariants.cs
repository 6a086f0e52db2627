using OnnxMemOpt.Runtime.Bench;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Cli.Bench;

/// <summary>
/// The rewritten configurations of the accuracy study (`bench --task spam --variants LIST`), each
/// trained beside one shared baseline: one technique at a time, then all passes.
/// </summary>
internal static class AccuracyVariants
{
    private static readonly string[] ReGelu2Alone = [FusionPass.Name, "regelu2"];

    public static readonly IReadOnlyDictionary<string, BenchVariant> Catalog = new Dictionary<string, BenchVariant>(StringComparer.Ordinal)
    {
        ["regelu2"] = new("regelu2", ReGelu2Alone, new RewriteOptions()),
        ["regelu2-few-bit"] = new("regelu2-few-bit", ReGelu2Alone, new RewriteOptions { GeluTable = GeluTables.FewBit }),
        ["regelu2-calibrated"] = new("regelu2-calibrated", ReGelu2Alone, new RewriteOptions { GeluTable = GeluTables.Calibrated }),
        ["msln"] = new("msln", [FusionPass.Name, "msln"], new RewriteOptions()),
        ["all"] = new("all", MemoryPasses.All, new RewriteOptions()),
        ["all-calibrated"] = new("all-calibrated", MemoryPasses.All, new RewriteOptions { GeluTable = GeluTables.Calibrated }),
    };

    public static IReadOnlyList<BenchVariant> Parse(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new UsageException("--variants names none");
        return names.Select(n => Catalog.TryGetValue(n, out BenchVariant? v)
            ? v
            : throw new UsageException($"unknown variant '{n}'; variants: {string.Join(", ", Catalog.Keys)}")).Distinct().ToList();
    }
}
