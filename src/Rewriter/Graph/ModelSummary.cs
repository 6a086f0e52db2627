using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Graph;

/// <summary>
/// What `inspect` reports about a model's structure: opset imports, op counts by `domain:op`
/// (plain `op` for the default domain; nodes inside If/Loop/Scan bodies included) and the bytes
/// held in initializers.
/// </summary>
/// <param name="IrVersion">The model's ir_version.</param>
/// <param name="ProducerName">The producer_name the exporter wrote (e.g. "pytorch"), or "".</param>
/// <param name="Opsets">Imported opset version by domain, the default domain as "ai.onnx", sorted.</param>
/// <param name="OpCounts">Node count by <see cref="OpKey"/>, sorted, subgraph nodes included.</param>
/// <param name="NodeCount">Nodes in all graphs, subgraphs included.</param>
/// <param name="InitializerCount">Initializers of the main graph.</param>
/// <param name="InitializerBytes">Their packed bytes, inline and external alike.</param>
/// <param name="Inputs">The main graph's input names, initializers listed as inputs included.</param>
/// <param name="Outputs">The main graph's output names.</param>
public sealed record ModelSummary(
    long IrVersion,
    string ProducerName,
    IReadOnlyDictionary<string, long> Opsets,
    IReadOnlyDictionary<string, int> OpCounts,
    int NodeCount,
    int InitializerCount,
    long InitializerBytes,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs)
{
    /// <summary>
    /// Summarises <paramref name="model"/>. Initializer bytes come from dims and element type, so
    /// external data is never read; a type without a fixed size (strings) counts 0.
    /// </summary>
    public static ModelSummary Of(OnnxModel model)
    {
        var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (OperatorSetIdProto opset in model.Proto.OpsetImport)
        {
            opsets[OnnxModel.NormalizeDomain(opset.Domain) is "" ? "ai.onnx" : opset.Domain] = opset.Version;
        }
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int nodes = CountNodes(model.Proto.Graph, counts);
        long bytes = 0;
        foreach (TensorProto initializer in model.Proto.Graph.Initializer)
        {
            bytes += TensorData.ByteSize(initializer, model.FileName) ?? 0;
        }
        return new ModelSummary(
            model.Proto.IrVersion,
            model.Proto.ProducerName,
            opsets,
            counts,
            nodes,
            model.Proto.Graph.Initializer.Count,
            bytes,
            model.Proto.Graph.Input.Select(i => i.Name).ToList(),
            model.Proto.Graph.Output.Select(o => o.Name).ToList());
    }

    /// <summary>The op-count key: `op` in the default domain, `domain:op` elsewhere.</summary>
    public static string OpKey(string domain, string opType) =>
        OnnxModel.NormalizeDomain(domain) is "" ? opType : $"{domain}:{opType}";

    private static int CountNodes(GraphProto graph, SortedDictionary<string, int> counts)
    {
        int total = 0;
        foreach (NodeProto node in graph.Node)
        {
            string key = OpKey(node.Domain, node.OpType);
            counts[key] = counts.GetValueOrDefault(key) + 1;
            total++;
            foreach (AttributeProto attribute in node.Attribute)
            {
                foreach (GraphProto body in ModelValidator.Subgraphs(attribute))
                {
                    total += CountNodes(body, counts);
                }
            }
        }
        return total;
    }
}
