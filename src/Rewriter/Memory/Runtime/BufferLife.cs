namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// One buffer the run takes from the arena: allocated when <see cref="Value"/> is produced at step
/// <see cref="AllocatedAt"/>, released after step <see cref="ReleasedAfter"/> (null: never read, so
/// it has no release action and goes back only when the run ends).
/// </summary>
/// <param name="Value">
/// The value the buffer was allocated for; later values that share it are in
/// <see cref="ArenaTimeline.Buffers"/>.
/// </param>
/// <param name="Bytes">The bytes requested (the arena rounds them).</param>
/// <param name="AllocatedAt">Step of the execution order whose node produces the value.</param>
/// <param name="ReleasedAfter">Step after which the buffer goes back, or null.</param>
public sealed record BufferLife(string Value, long Bytes, int AllocatedAt, int? ReleasedAfter);
