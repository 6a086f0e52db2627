using System.CommandLine;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `--gelu-table yang2024|few-bit`, shared by rewrite, bench and demo: which 2-bit GELU derivative
/// ReGELU2 uses. The paper's table is the default; Few-Bit Backward's keeps the same 2-bit code
/// but follows GELU′ more closely (docs/benchmarks.md measures both).
/// </summary>
internal static class GeluTableOption
{
    private const string Name = "--gelu-table";

    public static Option<string> Create() => new Option<string>(Name)
    {
        Description = "2-bit GELU derivative of ReGELU2: yang2024 (the paper's, default) or few-bit (Few-Bit Backward's derivative-fitted table, same memory).",
        DefaultValueFactory = _ => GeluTables.Yang2024,
    }.AcceptOnlyFromAmong(GeluTables.All);

    public static string Value(ParseResult parse) => parse.GetValue<string>(Name) ?? GeluTables.Yang2024;
}
