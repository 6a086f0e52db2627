using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Memory.Runtime;

/// <summary>
/// Replays ONNX Runtime's sequential allocation planner (PlannerImpl::ComputeSingleStreamReusePlan
/// and GenerateDeallocationPlan) over a graph in its execution order, and from the plan the bytes
/// the CPU arena holds at each step when the memory pattern is off (each buffer is then allocated
/// when its first value is produced and released after the last node that reads any value living
/// in it).
/// Per output, in this order, as the planner decides:
/// - a graph output is written into the caller's bound buffer (not the arena);
/// - an alias output (Reshape, ...) shares its input's buffer;
/// - a may-in-place output takes its input's buffer when the input has no other use left and both
///   have the same static shape;
/// - otherwise the most recently freed dead buffer of exactly the same static shape and element
///   size is reused (the planner's freelist); such a buffer stays allocated from its first
///   producer until its last reuse is read, dead time in between included;
/// - otherwise a new buffer is allocated.
/// Use counts follow the planner: one per reading input slot, one for the producing node, one more
/// for graph inputs, constants and graph outputs (never freed). A buffer no node reads has no
/// release action and stays allocated to the end of the run.
/// </summary>
public static class RuntimeAllocationPlanner
{
    /// <summary>The timeline, or null when a buffer's size is unknown.</summary>
    public static ArenaTimeline? Simulate(RuntimeGraph graph, IReadOnlyList<RuntimeNode> order, IReadOnlySet<string> staticShapes)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(staticShapes);

        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        void Use(string value, int count = 1) => uses[value] = uses.GetValueOrDefault(value) + count;
        foreach (string value in graph.Inputs.Concat(graph.Constants).Concat(graph.Outputs)) Use(value);
        foreach (RuntimeNode node in order)
        {
            foreach (string input in node.PresentInputs) Use(input);
            foreach (string output in node.PresentOutputs) Use(output);
        }

        var buffer = new Dictionary<string, string>(StringComparer.Ordinal);
        var allocatedAt = new Dictionary<string, int>(StringComparer.Ordinal);
        var freelist = new LinkedList<string>();
        string Original(string value) => buffer.GetValueOrDefault(value, value);
        void Reuse(string reused, string reusedFor)
        {
            string original = Original(reused);
            buffer[reusedFor] = original;
            uses[original] += uses[reusedFor];
        }
        void Release(string value)
        {
            string original = Original(value);
            if (--uses[original] == 0) freelist.AddFirst(original);
        }

        for (int step = 0; step < order.Count; step++)
        {
            RuntimeNode node = order[step];
            for (int k = 0; k < node.Outputs.Count; k++)
            {
                string output = node.Outputs[k];
                if (output.Length == 0 || graph.Outputs.Contains(output)) continue;
                if (CpuKernelBuffers.AliasedInput(node, k) is { } a && Input(node, a) is { } aliased)
                {
                    Reuse(aliased, output);
                }
                else if (CpuKernelBuffers.InPlaceInput(node, k) is { } p && Input(node, p) is { } inPlace
                    && uses[Original(inPlace)] == 1 && SameStaticShape(graph, staticShapes, inPlace, output))
                {
                    Reuse(inPlace, output);
                }
                else if (DeadBuffer(graph, staticShapes, freelist, output) is { } dead)
                {
                    Reuse(dead, output);
                }
                else
                {
                    buffer[output] = output;
                    allocatedAt[output] = step;
                }
            }
            foreach (string input in node.PresentInputs) Release(input);
            foreach (string output in node.PresentOutputs) Release(output);
        }

        // Release plan: each allocated buffer goes back after the last node reading any value in it.
        var releasedAfter = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int step = 0; step < order.Count; step++)
        {
            foreach (string input in order[step].PresentInputs)
            {
                string original = Original(input);
                if (allocatedAt.ContainsKey(original)) releasedAfter[original] = step;
            }
        }
        var lives = new List<BufferLife>(allocatedAt.Count);
        foreach ((string original, int start) in allocatedAt.OrderBy(a => a.Value))
        {
            if (graph.Bytes(original) is not { } bytes) return null;
            lives.Add(new BufferLife(original, bytes, start, releasedAfter.TryGetValue(original, out int end) ? end : null));
        }
        foreach (string value in order.SelectMany(n => n.PresentOutputs).Where(v => !graph.Outputs.Contains(v)))
        {
            buffer.TryAdd(value, value);
        }
        return new ArenaTimeline(order, buffer, lives);
    }

    private static string? Input(RuntimeNode node, int index) => index < node.Inputs.Count && node.Inputs[index].Length > 0 ? node.Inputs[index] : null;

    private static bool SameStaticShape(RuntimeGraph graph, IReadOnlySet<string> staticShapes, string a, string b) =>
        staticShapes.Contains(a) && staticShapes.Contains(b)
        && graph.Types.TryGetValue(a, out TensorType? ta) && graph.Types.TryGetValue(b, out TensorType? tb)
        && ta.Shape is not null && ta.Shape.Equals(tb.Shape) && ta.Shape.IsFullyKnown
        && ElementSize(ta.ElementType) == ElementSize(tb.ElementType) && ElementSize(ta.ElementType) > 0;

    /// <summary>FindReusableTensor: the most recently freed buffer of the same static shape (never for scalars).</summary>
    private static string? DeadBuffer(RuntimeGraph graph, IReadOnlySet<string> staticShapes, LinkedList<string> freelist, string output)
    {
        if (!staticShapes.Contains(output) || graph.Types.GetValueOrDefault(output)?.Shape is not { Rank: > 0 }) return null;
        for (LinkedListNode<string>? entry = freelist.First; entry is not null; entry = entry.Next)
        {
            if (SameStaticShape(graph, staticShapes, entry.Value, output))
            {
                freelist.Remove(entry);
                return entry.Value;
            }
        }
        return null;
    }

    private static long ElementSize(int elementType) => Onnx.ElementTypes.ByteCount(elementType, 1) ?? 0;
}
