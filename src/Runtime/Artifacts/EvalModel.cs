using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>
/// eval_model.onnx from a training graph in the project's convention: its forward part (the nodes the
/// chosen outputs depend on), every input of the training graph (the trained parameters among them,
/// their values in the checkpoint) and no gradient, and Dropout out of training mode, as ONNX
/// Runtime's generator made the eval model (_disable_training_mode clears Dropout's training_mode
/// input). The loss stays the first output.
/// </summary>
public static class EvalModel
{
    /// <summary>The file name ONNX Runtime's generator and training API use for the eval model.</summary>
    public const string FileName = "eval_model.onnx";

    /// <param name="trainingGraph">The project-convention training graph (not modified).</param>
    /// <param name="trainedParameters">Parameters whose values live in the checkpoint: their initializers are dropped.</param>
    /// <param name="outputs">Outputs after the loss (forward outputs, log-probabilities); names the graph does not compute are skipped.</param>
    public static ModelProto FromTrainingGraph(ModelProto trainingGraph, IReadOnlySet<string> trainedParameters, IEnumerable<string> outputs)
    {
        ArgumentNullException.ThrowIfNull(trainingGraph);
        ArgumentNullException.ThrowIfNull(trainedParameters);
        ArgumentNullException.ThrowIfNull(outputs);
        ModelProto model = trainingGraph.Clone();
        GraphProto graph = model.Graph;
        var produced = graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0).ToHashSet(StringComparer.Ordinal);
        var kept = new List<ValueInfoProto> { graph.Output[0] };
        foreach (string name in outputs.Distinct(StringComparer.Ordinal))
        {
            if (name != graph.Output[0].Name && produced.Contains(name))
            {
                kept.Add(graph.Output.FirstOrDefault(o => o.Name == name) ?? new ValueInfoProto { Name = name });
            }
        }
        graph.Output.Clear();
        graph.Output.AddRange(kept);

        // Keep only the nodes the outputs depend on (the node list is sorted: walk it backwards).
        var needed = kept.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var nodes = new List<NodeProto>();
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            NodeProto node = graph.Node[i];
            if (node.Output.Any(needed.Contains))
            {
                nodes.Add(node);
                needed.UnionWith(node.Input.Where(n => n.Length > 0));
            }
        }
        nodes.Reverse();
        foreach (NodeProto dropout in nodes.Where(n => n.OpType == "Dropout" && n.Domain is "" or "ai.onnx" && n.Input.Count > 2))
        {
            dropout.Input[2] = "";
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        // Every input stays, read or not: ONNX Runtime's eval step feeds all parameters of the
        // training graph to the eval model (a parameter the loss does not reach included), and its
        // generator's eval model kept all of the forward model's inputs too.
        needed.UnionWith(graph.Input.Select(i => i.Name));
        foreach (TensorProto tensor in graph.Initializer.Where(t => trainedParameters.Contains(t.Name) || !needed.Contains(t.Name)).ToList())
        {
            graph.Initializer.Remove(tensor);
        }

        var values = needed.ToHashSet(StringComparer.Ordinal);
        foreach (ValueInfoProto info in graph.ValueInfo.Where(v => !values.Contains(v.Name)).ToList())
        {
            graph.ValueInfo.Remove(info);
        }
        return model;
    }
}
