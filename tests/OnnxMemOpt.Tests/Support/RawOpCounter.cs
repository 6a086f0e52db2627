using Google.Protobuf;

namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// Counts ops by reading the protobuf wire format directly, without the generated classes or the
/// IR: an independent check of `inspect`'s op counts. Follows ModelProto.graph (7) →
/// GraphProto.node (1) → NodeProto.op_type (4) / domain (7) / attribute (5) → AttributeProto.g (6)
/// and graphs (11), the field numbers of the ONNX IR.
/// </summary>
public static class RawOpCounter
{
    public static SortedDictionary<string, int> Count(byte[] model)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (ByteString graph in Fields(ByteString.CopyFrom(model), 7))
        {
            CountGraph(graph, counts);
        }
        return counts;
    }

    private static void CountGraph(ByteString graph, SortedDictionary<string, int> counts)
    {
        foreach (ByteString node in Fields(graph, 1))
        {
            string op = Fields(node, 4).Select(b => b.ToStringUtf8()).LastOrDefault() ?? "";
            string domain = Fields(node, 7).Select(b => b.ToStringUtf8()).LastOrDefault() ?? "";
            string key = domain is "" or "ai.onnx" ? op : $"{domain}:{op}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            foreach (ByteString attribute in Fields(node, 5))
            {
                foreach (ByteString body in Fields(attribute, 6).Concat(Fields(attribute, 11)))
                {
                    CountGraph(body, counts);
                }
            }
        }
    }

    /// <summary>Payloads of every length-delimited occurrence of <paramref name="field"/> in a message.</summary>
    private static List<ByteString> Fields(ByteString message, int field)
    {
        var found = new List<ByteString>();
        var input = new CodedInputStream(message.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int number = WireFormat.GetTagFieldNumber(tag);
            if (number == field && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                found.Add(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }
        return found;
    }
}
