using System.Globalization;
using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// A pattern for one value of a graph, written as the computation that produces it (see
/// <see cref="P"/>). One pattern object always stands for one value: where the same object appears
/// twice in a pattern (x in x·σ(x)), both places must be the same value.
/// </summary>
public abstract class ValuePattern
{
    /// <summary>Every way <paramref name="value"/> matches this pattern, extending <paramref name="bindings"/>.</summary>
    internal IEnumerable<Bindings> Match(string value, Bindings bindings, MatchScope scope)
    {
        if (bindings.ValueOf(this) is { } bound)
        {
            return bound == value ? [bindings] : [];
        }
        return MatchUnbound(value, bindings, scope);
    }

    private protected abstract IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope);
}

/// <summary>Any value; binds it.</summary>
public sealed class AnyValue(string name) : ValuePattern
{
    /// <summary>The name the pattern prints as in messages; matching ignores it (identity is the object's).</summary>
    public string Name { get; } = name;

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope) =>
        [bindings.Bind(this, value)];

    /// <summary>The pattern's name.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// A constant (initializer or Constant node) whose every element is within a relative tolerance
/// of <see cref="Expected"/>: exporters write 1/√2 as 0.70710677 or 0.7071067690849304, √2 as
/// 1.4142135 or 1.4142099 (ONNX Runtime's own GELU tests use both).
/// </summary>
public sealed class ConstantValue(double expected, double relativeTolerance) : ValuePattern
{
    /// <summary>The value every element must be close to.</summary>
    public double Expected { get; } = expected;

    /// <summary>Allowed |v − <see cref="Expected"/>| as a fraction of |<see cref="Expected"/>|.</summary>
    public double RelativeTolerance { get; } = relativeTolerance;

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope)
    {
        if (scope.ConstantValues(value) is not { Length: > 0 } values)
        {
            return [];
        }
        double allowed = RelativeTolerance * Math.Max(Math.Abs(Expected), 1e-30);
        foreach (double v in values)
        {
            if (!(Math.Abs(v - Expected) <= allowed))
            {
                return [];
            }
        }
        return [bindings.Bind(this, value)];
    }

    /// <summary>The expected value to six significant digits.</summary>
    public override string ToString() => Expected.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>Any constant (an initializer that is not a graph input, or a Constant node's output); binds it.</summary>
public sealed class AnyConstant(string name) : ValuePattern
{
    /// <summary>The name the pattern prints as in messages; matching ignores it (identity is the object's).</summary>
    public string Name { get; } = name;

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope) =>
        scope.Graph.ConstantTensor(value) is null ? [] : [bindings.Bind(this, value)];

    /// <summary>The pattern's name.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// Output <see cref="OutputIndex"/> of a node of <see cref="OpType"/> whose inputs match
/// <see cref="Inputs"/>; with <see cref="Commutative"/> a two-input node also matches swapped.
/// </summary>
public sealed class NodeValue(string opType, string domain, IReadOnlyList<ValuePattern> inputs, bool commutative, int outputIndex = 0) : ValuePattern
{
    /// <summary>The op the producing node must be.</summary>
    public string OpType { get; } = opType;

    /// <summary>The producing node's domain ("" for ONNX, "com.microsoft" for ONNX Runtime's contrib ops).</summary>
    public string Domain { get; } = domain;

    /// <summary>Patterns for the node's inputs, by position.</summary>
    public IReadOnlyList<ValuePattern> Inputs { get; } = inputs;

    /// <summary>True for Add and Mul: a two-input node also matches with its inputs swapped.</summary>
    public bool Commutative { get; } = commutative;

    /// <summary>Which output of the node the value must be (0 for all but multi-output ops).</summary>
    public int OutputIndex { get; } = outputIndex;

    /// <summary>Extra inputs beyond <see cref="Inputs"/> are allowed (e.g. ReduceMean's axes input from opset 18).</summary>
    public bool AllowExtraInputs { get; init; }

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope)
    {
        OnnxNode? node = scope.Graph.Producer(value);
        if (node is null || !node.Is(OpType, Domain) || node.Output(OutputIndex) != value)
        {
            yield break;
        }
        int present = node.Inputs.Count;
        if (present < Inputs.Count || (present > Inputs.Count && !AllowExtraInputs))
        {
            yield break;
        }
        Bindings bound = bindings.Bind(this, value).WithNode(node);
        foreach (Bindings b in MatchInputs(node, Inputs, 0, bound, scope))
        {
            yield return b;
        }
        if (Commutative && Inputs.Count == 2)
        {
            ValuePattern[] swapped = [Inputs[1], Inputs[0]];
            foreach (Bindings b in MatchInputs(node, swapped, 0, bound, scope))
            {
                yield return b;
            }
        }
    }

    private static IEnumerable<Bindings> MatchInputs(OnnxNode node, IReadOnlyList<ValuePattern> inputs, int index, Bindings bindings, MatchScope scope)
    {
        if (index == inputs.Count)
        {
            yield return bindings;
            yield break;
        }
        if (node.Input(index) is not { } input)
        {
            yield break;
        }
        foreach (Bindings b in inputs[index].Match(input, bindings, scope))
        {
            foreach (Bindings rest in MatchInputs(node, inputs, index + 1, b, scope))
            {
                yield return rest;
            }
        }
    }

    /// <summary>The pattern as a formula, e.g. "Mul(x, Sigmoid(x))".</summary>
    public override string ToString() => $"{OpType}({string.Join(", ", Inputs)})";
}

/// <summary>The first alternative that matches, then the others (all are tried on backtracking).</summary>
public sealed class OneOf(IReadOnlyList<ValuePattern> alternatives) : ValuePattern
{
    /// <summary>The patterns tried, in order.</summary>
    public IReadOnlyList<ValuePattern> Alternatives { get; } = alternatives;

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope)
    {
        foreach (ValuePattern alternative in Alternatives)
        {
            foreach (Bindings b in alternative.Match(value, bindings, scope))
            {
                yield return b.Bind(this, value);
            }
        }
    }

    /// <summary>The alternatives joined by " | ".</summary>
    public override string ToString() => $"({string.Join(" | ", Alternatives)})";
}

/// <summary>
/// <see cref="Inner"/> itself or <see cref="Inner"/> seen through one Cast: mixed-precision exports
/// put Casts inside norm chains, and the fused ops compute in float32 whatever the input type.
/// </summary>
public sealed class OptionalCast(ValuePattern inner) : ValuePattern
{
    /// <summary>The pattern matched at the value or behind its Cast.</summary>
    public ValuePattern Inner { get; } = inner;

    private protected override IEnumerable<Bindings> MatchUnbound(string value, Bindings bindings, MatchScope scope)
    {
        foreach (Bindings b in Inner.Match(value, bindings, scope))
        {
            yield return b.Bind(this, value);
        }
        if (scope.Graph.Producer(value) is { } cast && cast.Is("Cast") && cast.Input(0) is { } source)
        {
            foreach (Bindings b in Inner.Match(source, bindings.WithNode(cast), scope))
            {
                yield return b.Bind(this, value);
            }
        }
    }

    /// <summary>"Cast?(inner)".</summary>
    public override string ToString() => $"Cast?({Inner})";
}
