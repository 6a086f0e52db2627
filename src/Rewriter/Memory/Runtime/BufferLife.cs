namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// One buffer the run takes from the arena: allocated when <see cref="Value"/> is produced at step
/// <see cref="AllocatedAt"/>, released after step <see cref="ReleasedAfter"/> (null: never read, so
/// it has no release action and goes back only when the run ends).
/// </summary>
public sealed record BufferLife(string Value, long Bytes, int AllocatedAt, int? ReleasedAfter);
