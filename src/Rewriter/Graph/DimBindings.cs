using System.Globalization;

namespace OnnxMemOpt.Graph;

/// <summary>Values for symbolic dimensions, from `--dim NAME=VALUE` options.</summary>
public sealed class DimBindings
{
    private readonly Dictionary<string, long> _values = new(StringComparer.Ordinal);

    public static DimBindings None { get; } = new();

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

    public DimBindings With(string name, long value)
    {
        var copy = new DimBindings();
        foreach (var (k, v) in _values) copy._values[k] = v;
        copy._values[name] = value;
        return copy;
    }

    /// <summary>The dim with its symbol replaced by a bound value where one is given.</summary>
    public Dim Bind(Dim dim) => dim.Symbol is { } s && _values.TryGetValue(s, out long v) ? Dim.Of(v) : dim;
}
