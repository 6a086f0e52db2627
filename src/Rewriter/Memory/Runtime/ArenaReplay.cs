namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// What the BFC arena model reports for a step: <see cref="MaxInUse"/> (the figure compared with the
/// runtime's MaxInUse) and, per node of the execution order, the bytes in use while it runs.
/// </summary>
public sealed record ArenaReplay(long MaxInUse, IReadOnlyList<long> StepBytes);
