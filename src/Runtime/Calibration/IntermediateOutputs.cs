using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

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
    /// A session on <paramref name="model"/> with the project's op library, optimised as the
    /// trainer's sessions are (ONNX Runtime's full optimisation), so that the values read are the
    /// ones training computes. Where the optimisers refuse the graph, it runs as written: they do on
    /// MiniLM's training graph with batch and sequence left symbolic (a backward Reshape is left
    /// with two -1 target dimensions), which `verify` may be given.
    /// </summary>
    public static InferenceSession Open(ModelProto model, string source)
    {
        if (model.Graph.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            throw new UnsupportedModelException(source, "its weights are in external data files, which a probe session opened from memory cannot read");
        }
        byte[] bytes = model.ToByteArray();
        try
        {
            using SessionOptions optimised = CustomOpLibrary.CreateSessionOptions();
            return new InferenceSession(bytes, optimised);
        }
        catch (OnnxRuntimeException)
        {
            using SessionOptions asWritten = CustomOpLibrary.CreateSessionOptions();
            asWritten.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            try
            {
                return new InferenceSession(bytes, asWritten);
            }
            catch (OnnxRuntimeException e)
            {
                throw new UnsupportedModelException(source, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
            }
        }
    }

    private static void KeepWhatOutputsNeed(GraphProto graph)
    {
        var needed = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var kept = new List<NodeProto>();
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            NodeProto node = graph.Node[i];
            if (!node.Output.Any(needed.Contains)) continue;
            kept.Add(node);
            foreach (string input in node.Input.Where(n => n.Length > 0)) needed.Add(input);
        }
        kept.Reverse();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
        foreach (TensorProto unused in graph.Initializer.Where(t => !needed.Contains(t.Name)).ToList()) graph.Initializer.Remove(unused);
        foreach (ValueInfoProto unused in graph.Input.Where(i => !needed.Contains(i.Name)).ToList()) graph.Input.Remove(unused);
    }
}
