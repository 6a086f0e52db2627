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

    public NodeProto Proto { get; }

    public OnnxGraph Graph { get; }

    public string OpType => Proto.OpType;

    /// <summary>The op's domain with "ai.onnx" normalised to "".</summary>
    public string Domain => OnnxModel.NormalizeDomain(Proto.Domain);

    public string Name => Proto.Name;

    /// <summary>Name for messages: the node's name, else its op type and first output.</summary>
    public string Label => string.IsNullOrEmpty(Proto.Name) ? $"{OpType}->{Outputs.FirstOrDefault()}" : Proto.Name;

    public IReadOnlyList<string> Inputs => Proto.Input;

    public IReadOnlyList<string> Outputs => Proto.Output;

    /// <summary>Input <paramref name="index"/>, or null when absent or empty (an omitted optional input).</summary>
    public string? Input(int index) => index < Proto.Input.Count && Proto.Input[index].Length > 0 ? Proto.Input[index] : null;

    public string? Output(int index) => index < Proto.Output.Count && Proto.Output[index].Length > 0 ? Proto.Output[index] : null;

    public bool Is(string opType, string domain = "") => OpType == opType && Domain == OnnxModel.NormalizeDomain(domain);

    public void SetInput(int index, string value) => Graph.SetNodeInput(this, index, value);

    public AttributeProto? Attribute(string name) => Proto.Attribute.FirstOrDefault(a => a.Name == name);

    public long GetInt(string name, long fallback) => Attribute(name) is { } a ? a.I : fallback;

    public float GetFloat(string name, float fallback) => Attribute(name) is { } a ? a.F : fallback;

    public string GetString(string name, string fallback) => Attribute(name) is { } a ? a.S.ToStringUtf8() : fallback;

    public IReadOnlyList<long>? GetInts(string name) => Attribute(name) is { } a ? a.Ints : null;

    public IReadOnlyList<float>? GetFloats(string name) => Attribute(name) is { } a ? a.Floats : null;

    public void SetAttribute(string name, long value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    public void SetAttribute(string name, float value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    public void SetAttribute(string name, string value) => Replace(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) });

    public void SetAttribute(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        Replace(attribute);
    }

    public void SetAttribute(string name, IEnumerable<float> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        Replace(attribute);
    }

    /// <summary>Graph-valued attributes (If/Loop/Scan bodies), in attribute order.</summary>
    public IEnumerable<GraphProto> SubgraphProtos() => Proto.Attribute.SelectMany(ModelValidatorAccess.Subgraphs);

    public bool HasSubgraphs => Proto.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0);

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
