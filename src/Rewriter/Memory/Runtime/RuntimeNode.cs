namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// A node as ONNX Runtime holds it: <see cref="Index"/> is its NodeIndex, the position in the file
/// for loaded nodes and a new, higher one for nodes its graph optimisations add. Empty names are
/// omitted optional inputs/outputs.
/// </summary>
public sealed record RuntimeNode(int Index, string Name, string Domain, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs)
{
    public bool Is(string opType, string domain = "") => OpType == opType && Domain == domain;

    public IEnumerable<string> PresentInputs => Inputs.Where(i => i.Length > 0);

    public IEnumerable<string> PresentOutputs => Outputs.Where(o => o.Length > 0);

    public override string ToString() => $"#{Index} {OpType} {Name}";
}
