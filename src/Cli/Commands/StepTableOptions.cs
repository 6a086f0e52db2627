using System.CommandLine;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `--gelu-table yang2024|few-bit|calibrated`, shared by rewrite, bench and demo: which 2-bit GELU
/// derivative ReGELU2 uses. The paper's table is the default; Few-Bit Backward's keeps the same
/// 2-bit code but follows GELU′ more closely; calibrated fits each layer's table to its own inputs
/// (docs/benchmarks.md and docs/accuracy.md measure them).
/// </summary>
internal static class GeluTableOption
{
    private const string Name = "--gelu-table";

    public static Option<string> Create() => new Option<string>(Name)
    {
        Description = "2-bit GELU derivative of ReGELU2: yang2024 (the paper's, default), few-bit (Few-Bit Backward's derivative-fitted table) or calibrated (fitted per layer to its own inputs on a few batches); same memory.",
        DefaultValueFactory = _ => GeluTables.Yang2024,
    }.AcceptOnlyFromAmong([.. GeluTables.All]);

    public static string Value(ParseResult parse) => parse.GetValue<string>(Name) ?? GeluTables.Yang2024;
}

/// <summary>`--silu-table yang2024|calibrated`: the same choice for ReSiLU2.</summary>
internal static class SiluTableOption
{
    private const string Name = "--silu-table";

    public static Option<string> Create() => new Option<string>(Name)
    {
        Description = "2-bit SiLU derivative of ReSiLU2: yang2024 (the paper's, default) or calibrated (fitted per layer to its own inputs); same memory.",
        DefaultValueFactory = _ => SiluTables.Yang2024,
    }.AcceptOnlyFromAmong([.. SiluTables.All]);

    public static string Value(ParseResult parse) => parse.GetValue<string>(Name) ?? SiluTables.Yang2024;

    /// <summary>The rewrite options both table options give.</summary>
    public static RewriteOptions Options(ParseResult parse, RewriteOptions? start = null) =>
        (start ?? new RewriteOptions()) with { GeluTable = GeluTableOption.Value(parse), SiluTable = Value(parse) };
}
