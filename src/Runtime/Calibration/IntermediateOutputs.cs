using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Sessions;

namespace OnnxMemOpt.Runtime.Calibration;

/// <summary>
/// A copy of a model that outputs some of its intermediate values, for reading them on ONNX Runtime
/// (graph outputs are the only values a session hands back). With <c>onlyWhatTheyNeed</c> the copy
/// keeps just the nodes, initializers and inputs those values depend on, so a training graph probed
/// for forward values runs its forward part alone.
/// </summary>
internal static class IntermediateOutputs
{
    public static ModelProto Of(ModelProto model, IReadOnlyCollection<string> values, bool onlyWhatTheyNeed)
    {
        ModelProto copy = model.Clone();
        GraphProto graph = copy.Graph;
        if (onlyWhatTheyNeed) graph.Output.Clear();
        var present = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string value in values.Where(present.Add))
        {
            // No type: ONNX Runtime takes it from the producing node.
            graph.Output.Add(new ValueInfoProto { Name = value });
        }
        if (onlyWhatTheyNeed) KeepWhatOutputsNeed(graph);
        return copy;
    }

    /// <summary>
    /// A session on <paramref name="probe"/> (a copy of <paramref name="source"/>, whose folder its
    /// external data is read from) with the project's op library, optimised as the trainer's sessions
    /// are (ONNX Runtime's full optimisation), so that the values read are the ones training computes.
    /// </summary>
    public static InferenceSession Open(ModelProto probe, OnnxModel source)
    {
        OnnxModel model = OnnxModel.FromProto(probe, source.FileName, source.BaseDirectory, source.Limits);
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        try
        {
            return ModelSessions.Open(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(source.FileName, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// Walks back from the outputs through producers, not through the node list: a rewritten graph
    /// need not list its nodes in topological order (ONNX Runtime sorts them), so a single reverse
    /// pass would drop a producer listed after its consumer.
    /// </summary>
    private static void KeepWhatOutputsNeed(GraphProto graph)
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            foreach (string output in graph.Node[i].Output.Where(n => n.Length > 0)) producer[output] = i;
        }
        var needed = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var pending = new Stack<string>(needed);
        var keep = new bool[graph.Node.Count];
        while (pending.Count > 0)
        {
            if (!producer.TryGetValue(pending.Pop(), out int index) || keep[index]) continue;
            keep[index] = true;
            foreach (string input in InputsOf(graph.Node[index]).Where(needed.Add)) pending.Push(input);
        }
        var kept = graph.Node.Where((_, i) => keep[i]).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
        foreach (TensorProto unused in graph.Initializer.Where(t => !needed.Contains(t.Name)).ToList()) graph.Initializer.Remove(unused);
        foreach (ValueInfoProto unused in graph.Input.Where(i => !needed.Contains(i.Name)).ToList()) graph.Input.Remove(unused);
    }

    /// <summary>A node's inputs and whatever its subgraphs (If/Loop/Scan bodies) read from outside them.</summary>
    private static IEnumerable<string> InputsOf(NodeProto node)
    {
        foreach (string input in node.Input.Where(n => n.Length > 0)) yield return input;
        foreach (GraphProto body in node.Attribute.SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Prepend(a.G)))
        {
            foreach (string input in body.Node.SelectMany(InputsOf)) yield return input;
        }
    }
}
