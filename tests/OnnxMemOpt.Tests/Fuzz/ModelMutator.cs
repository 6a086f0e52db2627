using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fuzz;

/// <summary>
/// Produces hostile variants of a valid model: raw byte damage (flips, truncation, corrupted
/// varints and lengths) and structural damage through the protobuf classes (dangling inputs,
/// duplicate outputs, cycles, absurd dims, wrong raw_data sizes, unknown ops, attributes of the
/// wrong type, escaping external-data locations, deeply nested subgraphs).
/// </summary>
public sealed class ModelMutator(byte[] seed, Random random)
{
    public delegate (string Name, byte[] Bytes, Dictionary<string, byte[]> SideFiles) Mutation();

    public (string Name, byte[] Bytes, Dictionary<string, byte[]> SideFiles) Next()
    {
        Mutation[] mutations =
        [
            FlipBytes, Truncate, CorruptVarint, DanglingInput, DuplicateOutput, Cycle, HugeDimension,
            NegativeDimension, WrongRawDataSize, UnknownOp, WrongAttributeType, ExternalAbsolute,
            ExternalDotDot, ExternalMissing, ExternalPastEnd, DeepSubgraphs, DropRandomNode, SwapInputs,
        ];
        return mutations[random.Next(mutations.Length)]();
    }

    private static Dictionary<string, byte[]> NoFiles() => [];

    private ModelProto Parse() => ModelProto.Parser.ParseFrom(seed);

    private (string, byte[], Dictionary<string, byte[]>) FlipBytes()
    {
        byte[] bytes = (byte[])seed.Clone();
        int flips = 1 + random.Next(8);
        for (int i = 0; i < flips; i++) bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        return ("byte-flip", bytes, NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) Truncate() =>
        ("truncate", seed[..random.Next(seed.Length)], NoFiles());

    private (string, byte[], Dictionary<string, byte[]>) CorruptVarint()
    {
        // Overwrite a byte that has its continuation bit set: lengths and varints go wild.
        byte[] bytes = (byte[])seed.Clone();
        int start = random.Next(bytes.Length);
        for (int i = 0; i < bytes.Length; i++)
        {
            int p = (start + i) % bytes.Length;
            if ((bytes[p] & 0x80) != 0 || bytes[p] is 0x0A or 0x12 or 0x3A)
            {
                bytes[(p + 1) % bytes.Length] = (byte)random.Next(256);
                break;
            }
        }
        return ("varint", bytes, NoFiles());
    }

    private NodeProto? RandomNode(ModelProto model) =>
        model.Graph.Node.Count == 0 ? null : model.Graph.Node[random.Next(model.Graph.Node.Count)];

    private (string, byte[], Dictionary<string, byte[]>) DanglingInput()
    {
        ModelProto model = Parse();
        if (RandomNode(model) is { Input.Count: > 0 } node) node.Input[random.Next(node.Input.Count)] = "dangling_" + random.Next();
        return ("dangling-input", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) DuplicateOutput()
    {
        ModelProto model = Parse();
        if (model.Graph.Node.Count >= 2)
        {
            NodeProto a = model.Graph.Node[random.Next(model.Graph.Node.Count)], b = model.Graph.Node[random.Next(model.Graph.Node.Count)];
            if (a.Output.Count > 0 && b.Output.Count > 0) b.Output[0] = a.Output[0];
        }
        return ("duplicate-output", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) Cycle()
    {
        ModelProto model = Parse();
        int n = model.Graph.Node.Count;
        if (n >= 2)
        {
            // An early node reads a late node's output.
            int early = random.Next(n / 2), late = n / 2 + random.Next(n - n / 2);
            NodeProto e = model.Graph.Node[early], l = model.Graph.Node[late];
            if (e.Input.Count > 0 && l.Output.Count > 0) e.Input[0] = l.Output[0];
        }
        return ("cycle", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) HugeDimension()
    {
        ModelProto model = Parse();
        long huge = random.Next(2) == 0 ? long.MaxValue / 3 : 1L << (40 + random.Next(20));
        if (model.Graph.Initializer.Count > 0 && random.Next(2) == 0)
        {
            TensorProto t = model.Graph.Initializer[random.Next(model.Graph.Initializer.Count)];
            if (t.Dims.Count > 0) t.Dims[random.Next(t.Dims.Count)] = huge; else t.Dims.Add(huge);
        }
        else if (model.Graph.Input.Count > 0 && model.Graph.Input[0].Type?.TensorType?.Shape is { Dim.Count: > 0 } shape)
        {
            shape.Dim[random.Next(shape.Dim.Count)] = new TensorShapeProto.Types.Dimension { DimValue = huge };
        }
        return ("huge-dim", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) NegativeDimension()
    {
        ModelProto model = Parse();
        if (model.Graph.Initializer.Count > 0)
        {
            TensorProto t = model.Graph.Initializer[random.Next(model.Graph.Initializer.Count)];
            if (t.Dims.Count > 0) t.Dims[random.Next(t.Dims.Count)] = -1 - random.Next(5); else t.Dims.Add(-3);
        }
        else if (model.Graph.Input.Count > 0 && model.Graph.Input[0].Type?.TensorType?.Shape is { Dim.Count: > 0 } shape)
        {
            shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = -7 };
        }
        return ("negative-dim", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) WrongRawDataSize()
    {
        ModelProto model = Parse();
        var withRaw = model.Graph.Initializer.Where(t => t.HasRawData && t.RawData.Length > 0).ToList();
        if (withRaw.Count > 0)
        {
            TensorProto t = withRaw[random.Next(withRaw.Count)];
            t.RawData = ByteString.CopyFrom(t.RawData.Span[..Math.Max(0, t.RawData.Length - 1 - random.Next(3))]);
        }
        return ("raw-data-size", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) UnknownOp()
    {
        ModelProto model = Parse();
        if (RandomNode(model) is { } node)
        {
            if (random.Next(2) == 0) node.OpType = "NoSuchOp" + random.Next(100);
            else node.Domain = "org.unknown.domain";
        }
        return ("unknown-op", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) WrongAttributeType()
    {
        ModelProto model = Parse();
        var withAttributes = model.Graph.Node.Where(n => n.Attribute.Count > 0).ToList();
        if (withAttributes.Count > 0)
        {
            NodeProto node = withAttributes[random.Next(withAttributes.Count)];
            AttributeProto old = node.Attribute[random.Next(node.Attribute.Count)];
            var replacement = random.Next(3) switch
            {
                0 => new AttributeProto { Name = old.Name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("oops") },
                1 => new AttributeProto { Name = old.Name, Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1.5f, float.NaN } },
                _ => new AttributeProto { Name = old.Name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { long.MinValue, 99999 } },
            };
            node.Attribute[node.Attribute.IndexOf(old)] = replacement;
        }
        return ("attribute-type", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) WithExternal(string name, string location, long? offset, long? length, Dictionary<string, byte[]> files)
    {
        ModelProto model = Parse();
        var tensor = new TensorProto { Name = "fuzz_external", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.Add(4);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (offset is { } o) tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = o.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is { } l) tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var existing = model.Graph.Initializer.FirstOrDefault(t => t.DataType == 1 && t.Dims.Count > 0);
        if (existing is not null)
        {
            // Take over a real weight, so commands that read weights meet the bad location.
            tensor.Name = existing.Name;
            tensor.Dims.Clear();
            tensor.Dims.AddRange(existing.Dims);
            model.Graph.Initializer[model.Graph.Initializer.IndexOf(existing)] = tensor;
        }
        else
        {
            model.Graph.Initializer.Add(tensor);
        }
        return (name, model.ToByteArray(), files);
    }

    private (string, byte[], Dictionary<string, byte[]>) ExternalAbsolute() =>
        WithExternal("external-absolute", random.Next(2) == 0 ? "/etc/passwd" : "/proc/self/environ", null, null, NoFiles());

    private (string, byte[], Dictionary<string, byte[]>) ExternalDotDot() =>
        WithExternal("external-dotdot", random.Next(2) == 0 ? "../outside.bin" : "sub/../../outside.bin", null, null, NoFiles());

    private (string, byte[], Dictionary<string, byte[]>) ExternalMissing() =>
        WithExternal("external-missing", "missing_" + random.Next() + ".bin", null, null, NoFiles());

    private (string, byte[], Dictionary<string, byte[]>) ExternalPastEnd() =>
        WithExternal("external-past-end", "weights.bin", 8 + random.Next(64), 1 + random.Next(1 << 20), new() { ["weights.bin"] = new byte[16] });

    private (string, byte[], Dictionary<string, byte[]>) DeepSubgraphs()
    {
        ModelProto model = Parse();
        int depth = 10 + random.Next(200);
        NodeProto chain = NestedIfChain.Build(depth, "cond", model.Graph.Input.FirstOrDefault()?.Name ?? "x");
        model.Graph.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 9, Shape = new TensorShapeProto() } } });
        model.Graph.Node.Add(chain);
        return ("deep-subgraphs", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) DropRandomNode()
    {
        ModelProto model = Parse();
        if (RandomNode(model) is { } node) model.Graph.Node.Remove(node);
        return ("drop-node", model.ToByteArray(), NoFiles());
    }

    private (string, byte[], Dictionary<string, byte[]>) SwapInputs()
    {
        // Valid-looking graphs with the wrong wiring: often still a DAG, with nonsense shapes.
        ModelProto model = Parse();
        var values = model.Graph.Node.SelectMany(n => n.Output).Concat(model.Graph.Input.Select(i => i.Name)).ToList();
        if (RandomNode(model) is { Input.Count: > 0 } node && values.Count > 0)
        {
            node.Input[random.Next(node.Input.Count)] = values[random.Next(values.Count)];
        }
        return ("swap-inputs", model.ToByteArray(), NoFiles());
    }
}
