using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>Adds the per-row statistics outputs a norm's gradient op reads to the forward node.</summary>
internal static class NormOutputs
{
    /// <summary>Makes outputs 1.. of <paramref name="node"/> present, naming absent ones "&lt;Y&gt;_&lt;suffix&gt;". True when the node changed.</summary>
    public static bool Ensure(OnnxNode node, IReadOnlyList<string> suffixes)
    {
        bool changed = false;
        string y = node.Outputs[0];
        for (int i = 0; i < suffixes.Count; i++)
        {
            int index = i + 1;
            if (node.Output(index) is not null) continue;
            string name = node.Graph.UniqueName($"{y}_{suffixes[i]}");
            if (index < node.Proto.Output.Count) node.Proto.Output[index] = name;
            else node.Proto.Output.Add(name);
            changed = true;
        }
        return changed;
    }
}
