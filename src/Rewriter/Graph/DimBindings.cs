using System.Globalization;

namespace OnnxMemOpt.Graph;

/// <summary>Values for symbolic dimensions, from `--dim NAME=VALUE` options.</summary>
public sealed class DimBindings
{
    private readonly Dictionary<string, long> _values = new(StringComparer.Ordinal);

    /// <summary>No bindings: every symbolic dimension stays a symbol (the default when no `--dim` is given).</summary>
    public static DimBindings None { get; } = new();

    /// <summary>Bound values by symbol name (ordinal comparison, as dim_param names are case-sensitive).</summary>
    public IReadOnlyDictionary<string, long> Values => _values;

    /// <summary>Parses NAME=VALUE pairs; throws <see cref="FormatException"/> with the offending text.</summary>
    public static DimBindings Parse(IEnumerable<string> pairs)
    {
        var bindings = new DimBindings();
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !long.TryParse(pair.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0)
            {
                throw new FormatException($"--dim '{pair}' is not NAME=VALUE with a positive integer VALUE");
            }
            bindings._values[pair[..eq]] = value;
        }
        return bindings;
    }

    /// <summary>
    /// A copy with <paramref name="name"/> bound to <paramref name="value"/> (replacing an earlier
    /// binding); this instance is left as it is.
    /// </summary>
    public DimBindings With(string name, long value)
    {
        var copy = new DimBindings();
        foreach (var (k, v) in _values) copy._values[k] = v;
        copy._values[name] = value;
        return copy;
    }

    /// <summary>
    /// Throws <see cref="UnknownDimensionException"/> when a bound name is none of <paramref name="symbols"/>
    /// (see <see cref="ModelSymbols"/>); the message lists them. <paramref name="model"/> names the model.
    /// </summary>
    public void RequireDeclaredIn(IReadOnlySet<string> symbols, string model)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        List<string> unknown = [.. _values.Keys.Where(name => !symbols.Contains(name)).Order(StringComparer.Ordinal)];
        if (unknown.Count == 0)
        {
            return;
        }
        string names = string.Join(", ", unknown.Select(n => $"'{n}'"));
        string declared = symbols.Count == 0
            ? "it has no symbolic dimensions"
            : $"its symbols are {string.Join(", ", symbols.Order(StringComparer.Ordinal))}";
        throw new UnknownDimensionException($"--dim {names}: {model} has no symbolic dimension of that name; {declared}");
    }

    /// <summary>The dim with its symbol replaced by a bound value where one is given.</summary>
    public Dim Bind(Dim dim) => dim.Symbol is { } s && _values.TryGetValue(s, out long v) ? Dim.Of(v) : dim;
}
