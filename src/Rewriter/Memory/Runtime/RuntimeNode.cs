namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// A node as ONNX Runtime holds it: <see cref="Index"/> is its NodeIndex, the position in the file
/// for loaded nodes and a new, higher one for nodes its graph optimisations add. Empty names are
/// omitted optional inputs/outputs.
/// </summary>
/// <param name="Index">The runtime's NodeIndex, which breaks ties in its execution order.</param>
/// <param name="Name">The node's name (its label when the file left it empty), for messages.</param>
/// <param name="Domain">The op's domain, "" for ONNX.</param>
/// <param name="OpType">The op.</param>
/// <param name="Inputs">Input value names by position, "" for an omitted one.</param>
/// <param name="Outputs">Output value names by position, "" for one not produced.</param>
public sealed record RuntimeNode(int Index, string Name, string Domain, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs)
{
    /// <summary>
    /// True when the node is <paramref name="opType"/> in <paramref name="domain"/>; compared as
    /// stored, and <see cref="RuntimeGraph.Of"/> stores the default domain as "".
    /// </summary>
    public bool Is(string opType, string domain = "") => OpType == opType && Domain == domain;

    /// <summary>Inputs without the empty names of omitted optional inputs.</summary>
    public IEnumerable<string> PresentInputs => Inputs.Where(i => i.Length > 0);

    /// <summary>Outputs without the empty names of optional outputs not produced.</summary>
    public IEnumerable<string> PresentOutputs => Outputs.Where(o => o.Length > 0);

    /// <summary>`#index op name`, as in the runtime's node table, for messages.</summary>
    public override string ToString() => $"#{Index} {OpType} {Name}";
}
