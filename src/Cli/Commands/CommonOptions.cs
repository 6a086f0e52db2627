using System.CommandLine;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>Options every command takes (`--json`, `--dim NAME=VALUE`) and the MODEL argument.</summary>
internal sealed class CommonOptions
{
    public Option<bool> Json { get; } = new("--json") { Description = "Print one JSON object on stdout and nothing else there." };

    public Option<string[]> Dims { get; } = new("--dim")
    {
        Description = "Bind a symbolic dimension, e.g. --dim batch=16 (repeatable).",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>`--runtime-peak` of inspect and rewrite (<see cref="Runtime.Memory.RuntimeArenaPeak"/>).</summary>
    public static Option<bool> RuntimePeakOption() => new("--runtime-peak")
    {
        Description = "Also estimate ONNX Runtime's CPU arena peak of one step (the bench's estimate): the runtime optimises the graph, the estimator replays its schedule, buffer reuse and arena. Bind every symbolic input dim with --dim.",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Json);
        command.Options.Add(Dims);
    }

    public DimBindings BindingsFrom(ParseResult parse)
    {
        try
        {
            return DimBindings.Parse(parse.GetValue(Dims) ?? []);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>
    /// The --dim bindings, each checked to name a symbolic dimension of one of <paramref name="models"/>
    /// (a name that matches none is a usage error listing their symbols, not a binding silently ignored).
    /// </summary>
    public DimBindings BindingsFor(ParseResult parse, params OnnxModel[] models)
    {
        DimBindings dims = BindingsFrom(parse);
        var symbols = new SortedSet<string>(models.SelectMany(ModelSymbols.Of), StringComparer.Ordinal);
        dims.RequireDeclaredIn(symbols, string.Join(" and ", models.Select(m => m.FileName)));
        return dims;
    }

    public static Argument<string> ModelArgument(string name = "MODEL", string description = "Path of an ONNX model.") =>
        new(name) { Description = description };
}
