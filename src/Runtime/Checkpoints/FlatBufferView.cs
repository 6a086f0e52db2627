using System.Buffers.Binary;
using System.Text;

namespace OnnxMemOpt.Runtime.Checkpoints;

/// <summary>
/// A bounds-checked, read-only view over a FlatBuffer. Written by hand (rather than with generated
/// code) so that every offset read from the file is validated before it is followed: a truncated or
/// corrupt checkpoint raises <see cref="InvalidDataException"/> naming the file and the reason
/// instead of reading out of range.
/// </summary>
internal sealed class FlatBufferView
{
    private readonly byte[] _bytes;

    public FlatBufferView(byte[] bytes, string sourceName)
    {
        _bytes = bytes;
        SourceName = sourceName;
    }

    /// <summary>The file (or description) reported in every error.</summary>
    public string SourceName { get; }

    public int Length => _bytes.Length;

    /// <summary>The 4-byte file identifier stored after the root offset, or null when the buffer is too short.</summary>
    public string? FileIdentifier => _bytes.Length >= 8 ? Encoding.ASCII.GetString(_bytes, 4, 4) : null;

    public FlatTable Root(string what)
    {
        long rootPosition = ReadUInt32(0, "root offset");
        return TableAt(rootPosition, what);
    }

    public Exception Corrupt(string reason) =>
        new InvalidDataException($"{SourceName}: corrupt or unsupported checkpoint: {reason}.");

    public void Require(long position, long size, string what)
    {
        if (position < 0 || size < 0 || position > _bytes.Length - size)
        {
            throw Corrupt($"{what} at byte {position} (+{size}) lies outside the {_bytes.Length}-byte file");
        }
    }

    public ushort ReadUInt16(long position, string what)
    {
        Require(position, 2, what);
        return BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan((int)position));
    }

    public int ReadInt32(long position, string what)
    {
        Require(position, 4, what);
        return BinaryPrimitives.ReadInt32LittleEndian(_bytes.AsSpan((int)position));
    }

    public uint ReadUInt32(long position, string what)
    {
        Require(position, 4, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)position));
    }

    public long ReadInt64(long position, string what)
    {
        Require(position, 8, what);
        return BinaryPrimitives.ReadInt64LittleEndian(_bytes.AsSpan((int)position));
    }

    public float ReadSingle(long position, string what)
    {
        Require(position, 4, what);
        return BinaryPrimitives.ReadSingleLittleEndian(_bytes.AsSpan((int)position));
    }

    public byte ReadByte(long position, string what)
    {
        Require(position, 1, what);
        return _bytes[position];
    }

    public ReadOnlySpan<byte> Slice(long position, long length, string what)
    {
        Require(position, length, what);
        return _bytes.AsSpan((int)position, (int)length);
    }

    /// <summary>Follows the unsigned offset stored at <paramref name="position"/> (relative to itself).</summary>
    public long FollowOffset(long position, string what) => position + ReadUInt32(position, what);

    public FlatTable TableAt(long position, string what)
    {
        // A table starts with a signed offset back to its vtable; the vtable holds its own size,
        // the table's size and one 16-bit field offset per field.
        long vtable = position - ReadInt32(position, what);
        ushort vtableSize = ReadUInt16(vtable, $"{what} vtable");
        if (vtableSize < 4 || (vtableSize & 1) != 0)
        {
            throw Corrupt($"{what} vtable at byte {vtable} has invalid size {vtableSize}");
        }
        Require(vtable, vtableSize, $"{what} vtable");
        ushort tableSize = ReadUInt16(vtable + 2, $"{what} vtable");
        Require(position, Math.Max((int)tableSize, 4), what);
        return new FlatTable(this, position, vtable, vtableSize, tableSize, what);
    }

    public string ReadString(long position, string what)
    {
        long length = ReadUInt32(position, $"{what} length");
        return Encoding.UTF8.GetString(Slice(position + 4, length, what));
    }
}

/// <summary>A table inside a <see cref="FlatBufferView"/>: fields by their schema index, defaults when absent.</summary>
internal readonly struct FlatTable
{
    private readonly FlatBufferView _view;
    private readonly long _position;
    private readonly long _vtable;
    private readonly int _vtableSize;
    private readonly int _tableSize;
    private readonly string _what;

    internal FlatTable(FlatBufferView view, long position, long vtable, int vtableSize, int tableSize, string what)
    {
        _view = view;
        _position = position;
        _vtable = vtable;
        _vtableSize = vtableSize;
        _tableSize = tableSize;
        _what = what;
    }

    /// <summary>Absolute position of field <paramref name="index"/> (schema order), or -1 when it is absent.</summary>
    private long FieldPosition(int index, int size, string name)
    {
        int slot = 4 + (2 * index);
        if (slot + 2 > _vtableSize)
        {
            return -1;
        }
        ushort offset = _view.ReadUInt16(_vtable + slot, $"{_what}.{name} vtable slot");
        if (offset == 0)
        {
            return -1;
        }
        if (offset + size > _tableSize)
        {
            throw _view.Corrupt($"{_what}.{name} (offset {offset}, {size} bytes) overruns its {_tableSize}-byte table");
        }
        return _position + offset;
    }

    public bool Has(int index, string name) => FieldPosition(index, 1, name) >= 0;

    public int Int32(int index, string name, int defaultValue = 0)
    {
        long at = FieldPosition(index, 4, name);
        return at < 0 ? defaultValue : _view.ReadInt32(at, $"{_what}.{name}");
    }

    public long Int64(int index, string name, long defaultValue = 0)
    {
        long at = FieldPosition(index, 8, name);
        return at < 0 ? defaultValue : _view.ReadInt64(at, $"{_what}.{name}");
    }

    public float Single(int index, string name, float defaultValue = 0)
    {
        long at = FieldPosition(index, 4, name);
        return at < 0 ? defaultValue : _view.ReadSingle(at, $"{_what}.{name}");
    }

    public bool Bool(int index, string name, bool defaultValue = false)
    {
        long at = FieldPosition(index, 1, name);
        return at < 0 ? defaultValue : _view.ReadByte(at, $"{_what}.{name}") != 0;
    }

    public string? String(int index, string name)
    {
        long at = FieldPosition(index, 4, name);
        return at < 0 ? null : _view.ReadString(_view.FollowOffset(at, $"{_what}.{name}"), $"{_what}.{name}");
    }

    public FlatTable? Table(int index, string name)
    {
        long at = FieldPosition(index, 4, name);
        return at < 0 ? null : _view.TableAt(_view.FollowOffset(at, $"{_what}.{name}"), $"{_what}.{name}");
    }

    public FlatVector Vector(int index, string name, int elementSize)
    {
        long at = FieldPosition(index, 4, name);
        string what = $"{_what}.{name}";
        if (at < 0)
        {
            return new FlatVector(_view, 0, 0, elementSize, what);
        }
        long start = _view.FollowOffset(at, what);
        long count = _view.ReadUInt32(start, $"{what} length");
        _view.Require(start + 4, count * elementSize, what);
        return new FlatVector(_view, start + 4, (int)count, elementSize, what);
    }
}

/// <summary>A vector inside a <see cref="FlatBufferView"/> whose extent has already been bounds-checked.</summary>
internal readonly struct FlatVector
{
    private readonly FlatBufferView _view;
    private readonly long _first;
    private readonly int _elementSize;
    private readonly string _what;

    internal FlatVector(FlatBufferView view, long first, int count, int elementSize, string what)
    {
        _view = view;
        _first = first;
        Count = count;
        _elementSize = elementSize;
        _what = what;
    }

    public int Count { get; }

    public FlatTable TableAt(int i)
    {
        long slot = _first + ((long)i * 4);
        return _view.TableAt(_view.FollowOffset(slot, $"{_what}[{i}]"), $"{_what}[{i}]");
    }

    public long Int64At(int i) => _view.ReadInt64(_first + ((long)i * 8), $"{_what}[{i}]");

    public ReadOnlySpan<byte> Bytes => _view.Slice(_first, (long)Count * _elementSize, _what);
}
