using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>
/// A node of an <see cref="OnnxGraph"/>: a view over its NodeProto with typed attribute access.
/// Change inputs through <see cref="SetInput"/> (or the graph's edit methods) so that the graph's
/// producer/consumer index stays true.
/// </summary>
public sealed class OnnxNode
{
    internal OnnxNode(NodeProto proto, OnnxGraph graph)
    {
        Proto = proto;
        Graph = graph;
    }

    /// <summary>The NodeProto inside the graph's GraphProto; edits to it are written out with the model.</summary>
    public NodeProto Proto { get; }

    /// <summary>The graph the node belongs to.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>The op's name within its domain, e.g. "Gemm" or "FastGelu".</summary>
    public string OpType => Proto.OpType;

    /// <summary>The op's domain with "ai.onnx" normalised to "".</summary>
    public string Domain => OnnxModel.NormalizeDomain(Proto.Domain);

    /// <summary>
    /// The node's name as stored; may be empty in the file (nodes added through the graph always get a
    /// unique one). See <see cref="Label"/> for messages.
    /// </summary>
    public string Name => Proto.Name;

    /// <summary>Name for messages: the node's name, else its op type and first output.</summary>
    public string Label => string.IsNullOrEmpty(Proto.Name) ? $"{OpType}->{Outputs.FirstOrDefault()}" : Proto.Name;

    /// <summary>
    /// Input value names by position; an empty string is an omitted optional input. Read-only: rewire
    /// through <see cref="SetInput"/>.
    /// </summary>
    public IReadOnlyList<string> Inputs => Proto.Input;

    /// <summary>Output value names by position; an empty string is an output the node does not produce.</summary>
    public IReadOnlyList<string> Outputs => Proto.Output;

    /// <summary>Input <paramref name="index"/>, or null when absent or empty (an omitted optional input).</summary>
    public string? Input(int index) => index < Proto.Input.Count && Proto.Input[index].Length > 0 ? Proto.Input[index] : null;

    /// <summary>
    /// Output <paramref name="index"/>, or null when absent or empty (an optional output that is not
    /// produced).
    /// </summary>
    public string? Output(int index) => index < Proto.Output.Count && Proto.Output[index].Length > 0 ? Proto.Output[index] : null;

    /// <summary>
    /// True when the node is <paramref name="opType"/> in <paramref name="domain"/>; "" and "ai.onnx"
    /// both mean the default domain.
    /// </summary>
    public bool Is(string opType, string domain = "") => OpType == opType && Domain == OnnxModel.NormalizeDomain(domain);

    /// <summary>
    /// Makes input <paramref name="index"/> read <paramref name="value"/>, updating the graph's
    /// consumer index.
    /// </summary>
    public void SetInput(int index, string value) => Graph.SetNodeInput(this, index, value);

    /// <summary>The attribute named <paramref name="name"/>, or null when the node does not set it.</summary>
    public AttributeProto? Attribute(string name) => Proto.Attribute.FirstOrDefault(a => a.Name == name);

    /// <summary>
    /// Integer attribute <paramref name="name"/>, or <paramref name="fallback"/> (the op's default)
    /// when it is not set.
    /// </summary>
    public long GetInt(string name, long fallback) => Attribute(name) is { } a ? a.I : fallback;

    /// <summary>
    /// Float attribute <paramref name="name"/>, or <paramref name="fallback"/> (the op's default) when
    /// it is not set.
    /// </summary>
    public float GetFloat(string name, float fallback) => Attribute(name) is { } a ? a.F : fallback;

    /// <summary>
    /// String attribute <paramref name="name"/> decoded as UTF-8, or <paramref name="fallback"/> (the
    /// op's default) when it is not set.
    /// </summary>
    public string GetString(string name, string fallback) => Attribute(name) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>
    /// Integer-list attribute <paramref name="name"/>, or null when it is not set (ops give that case
    /// its own meaning, e.g. "all axes").
    /// </summary>
    public IReadOnlyList<long>? GetInts(string name) => Attribute(name) is { } a ? a.Ints : null;

    /// <summary>Float-list attribute <paramref name="name"/>, or null when it is not set.</summary>
    public IReadOnlyList<float>? GetFloats(string name) => Attribute(name) is { } a ? a.Floats : null;

    /// <summary>
    /// Sets integer attribute <paramref name="name"/>, replacing any attribute of that name in place.
    /// </summary>
    public void SetAttribute(string name, long value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    /// <summary>Sets float attribute <paramref name="name"/>, replacing any attribute of that name in place.</summary>
    public void SetAttribute(string name, float value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    /// <summary>
    /// Sets string attribute <paramref name="name"/> (stored as UTF-8), replacing any attribute of that
    /// name in place.
    /// </summary>
    public void SetAttribute(string name, string value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) });

    /// <summary>
    /// Sets integer-list attribute <paramref name="name"/>, replacing any attribute of that name in
    /// place.
    /// </summary>
    public void SetAttribute(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        Replace(attribute);
    }

    /// <summary>
    /// Sets float-list attribute <paramref name="name"/>, replacing any attribute of that name in
    /// place.
    /// </summary>
    public void SetAttribute(string name, IEnumerable<float> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        Replace(attribute);
    }

    /// <summary>Graph-valued attributes (If/Loop/Scan bodies), in attribute order.</summary>
    public IEnumerable<GraphProto> SubgraphProtos() => Proto.Attribute.SelectMany(ModelValidatorAccess.Subgraphs);

    /// <summary>
    /// True when an attribute holds a graph (If/Loop/Scan bodies): rewrites that rewire values refuse
    /// such nodes rather than edit inside the bodies.
    /// </summary>
    public bool HasSubgraphs => Proto.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0);

    /// <summary>`domain:op label` (just `op label` in the default domain), for messages and debugging.</summary>
    public override string ToString() => $"{Domain}{(Domain.Length > 0 ? ":" : "")}{OpType} {Label}";

    private void Replace(AttributeProto attribute)
    {
        int index = Proto.Attribute.ToList().FindIndex(a => a.Name == attribute.Name);
        if (index >= 0) Proto.Attribute[index] = attribute; else Proto.Attribute.Add(attribute);
    }
}

/// <summary>Shares the validator's subgraph enumeration with the IR.</summary>
internal static class ModelValidatorAccess
{
    public static IEnumerable<GraphProto> Subgraphs(AttributeProto attribute) => ModelValidator.Subgraphs(attribute);
}
