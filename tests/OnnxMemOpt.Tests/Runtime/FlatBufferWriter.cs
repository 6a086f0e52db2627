using System.Buffers.Binary;
using System.Text;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>
/// A minimal FlatBuffer writer for tests, written independently of the reader: it lays tables out
/// front to back (each table's vtable right before it, children after it, so every offset points
/// forward) and builds checkpoints the artifact files do not contain (optimizer groups, properties).
/// </summary>
internal sealed class FlatBufferWriter
{
    private readonly List<byte> _bytes = [];

    public abstract record Node;

    /// <summary>Fields by schema index: scalars as little-endian bytes, or child nodes.</summary>
    public sealed record Table(IReadOnlyDictionary<int, object> Fields) : Node;

    public sealed record Str(string Value) : Node;

    public sealed record Vector(IReadOnlyList<Node> Elements) : Node;

    public sealed record ScalarVector(byte[] Bytes, int ElementSize) : Node;

    public static byte[] Build(Table root, string identifier)
    {
        var writer = new FlatBufferWriter();
        writer.Append(new byte[8]);
        Encoding.ASCII.GetBytes(identifier).CopyTo(writer.Span(4, 4));
        int rootPosition = writer.Write(root);
        BinaryPrimitives.WriteUInt32LittleEndian(writer.Span(0, 4), (uint)rootPosition);
        return [.. writer._bytes];
    }

    public static byte[] Int32(int v) => BitConverter.GetBytes(v);

    public static byte[] Int64(long v) => BitConverter.GetBytes(v);

    public static byte[] Single(float v) => BitConverter.GetBytes(v);

    public static byte[] Bool(bool v) => [(byte)(v ? 1 : 0)];

    public static ScalarVector Int64s(params long[] values) => new(values.SelectMany(BitConverter.GetBytes).ToArray(), 8);

    public static ScalarVector Floats(params float[] values) => new(values.SelectMany(BitConverter.GetBytes).ToArray(), 1);

    private int Write(Node node) => node switch
    {
        Table table => WriteTable(table),
        Str s => WriteBlob(Encoding.UTF8.GetBytes(s.Value), 1, nullTerminate: true),
        ScalarVector v => WriteBlob(v.Bytes, v.ElementSize, nullTerminate: false),
        Vector v => WriteOffsetVector(v),
        _ => throw new ArgumentException(node.ToString()),
    };

    private int WriteTable(Table table)
    {
        // Table body: soffset to the vtable, then each field (scalars inline, 4-byte slots for children).
        int fieldCount = table.Fields.Count == 0 ? 0 : table.Fields.Keys.Max() + 1;
        var layout = new List<(int Index, int Offset, object Value)>();
        int size = 4;
        foreach (var (index, value) in table.Fields.OrderBy(f => f.Key))
        {
            int width = value is byte[] scalar ? scalar.Length : 4;
            size = Align(size, width);
            layout.Add((index, size, value));
            size += width;
        }
        int vtableSize = 4 + (2 * fieldCount);
        Pad(8, vtableSize);
        int vtable = _bytes.Count;
        Append(new byte[vtableSize]);
        int tablePosition = _bytes.Count;
        Append(new byte[size]);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(vtable, 2), (ushort)vtableSize);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(vtable + 2, 2), (ushort)size);
        BinaryPrimitives.WriteInt32LittleEndian(Span(tablePosition, 4), tablePosition - vtable);
        foreach (var (index, offset, value) in layout)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(Span(vtable + 4 + (2 * index), 2), (ushort)offset);
            if (value is byte[] scalar)
            {
                scalar.CopyTo(Span(tablePosition + offset, scalar.Length));
            }
        }
        foreach (var (_, offset, value) in layout)
        {
            if (value is Node child)
            {
                int childPosition = Write(child);
                int slot = tablePosition + offset;
                BinaryPrimitives.WriteUInt32LittleEndian(Span(slot, 4), (uint)(childPosition - slot));
            }
        }
        return tablePosition;
    }

    private int WriteBlob(byte[] payload, int elementSize, bool nullTerminate)
    {
        // The length prefix counts elements; the elements start aligned to their size.
        Pad(Math.Max(4, elementSize), 4);
        int position = _bytes.Count;
        Append(Int32(payload.Length / elementSize));
        Append(payload);
        if (nullTerminate)
        {
            Append([0]);
        }
        return position;
    }

    private int WriteOffsetVector(Vector vector)
    {
        Pad(4, 0);
        int position = _bytes.Count;
        Append(Int32(vector.Elements.Count));
        int first = _bytes.Count;
        Append(new byte[4 * vector.Elements.Count]);
        for (int i = 0; i < vector.Elements.Count; i++)
        {
            int child = Write(vector.Elements[i]);
            int slot = first + (4 * i);
            BinaryPrimitives.WriteUInt32LittleEndian(Span(slot, 4), (uint)(child - slot));
        }
        return position;
    }

    // Pads so that the byte at (current + lead) is aligned to `alignment`.
    private void Pad(int alignment, int lead)
    {
        while ((_bytes.Count + lead) % alignment != 0)
        {
            _bytes.Add(0);
        }
    }

    private static int Align(int value, int alignment) => (value + alignment - 1) / alignment * alignment;

    private void Append(byte[] bytes) => _bytes.AddRange(bytes);

    private Span<byte> Span(int start, int length) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes).Slice(start, length);
}
