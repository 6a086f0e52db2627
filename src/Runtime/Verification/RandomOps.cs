using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>How <see cref="RandomOps.MakeDeterministic"/> takes the randomness out of a graph.</summary>
public enum RandomOpPolicy
{
    /// <summary>Every random op gets a fixed seed derived from its node name: same-named nodes of two graphs draw the same numbers.</summary>
    FixedSeed,

    /// <summary>Dropout (and its gradient) run with ratio 0, an identity; other random ops get fixed seeds.</summary>
    ZeroRatio,
}

/// <summary>What was made deterministic, for the report.</summary>
public sealed record DeterminismReport(RandomOpPolicy Policy, IReadOnlyList<string> Nodes)
{
    /// <summary>One line for verify's report: how many random ops were made deterministic, by which policy, and their node names.</summary>
    public string Describe() => Nodes.Count == 0
        ? "no random op"
        : Policy == RandomOpPolicy.FixedSeed
            ? $"{Nodes.Count} random op(s) seeded by node name ({string.Join(", ", Nodes)})"
            : $"{Nodes.Count} random op(s) made deterministic, Dropout at ratio 0 ({string.Join(", ", Nodes)})";
}

/// <summary>
/// Makes the ops whose outputs are random deterministic before two graphs are compared, so that a
/// difference is the rewrite's and never two draws: Dropout, RandomUniform(Like), RandomNormal(Like),
/// Bernoulli, Multinomial and ONNX Runtime's BiasDropout / BitmaskDropout / BitmaskBiasDropout. ONNX
/// Runtime seeds each such kernel from its <c>seed</c> attribute when there is one (else from the
/// clock), so a seed that depends only on the node's name gives the same masks in both graphs.
/// </summary>
public static class RandomOps
{
    private static readonly HashSet<string> SeededOps = new(StringComparer.Ordinal)
    {
        "Dropout", "RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Bernoulli", "Multinomial",
        "BiasDropout", "BitmaskDropout", "BitmaskBiasDropout",
    };

    private static readonly HashSet<string> DropoutOps = new(StringComparer.Ordinal) { "Dropout", "BiasDropout", "BitmaskDropout", "BitmaskBiasDropout" };

    /// <summary>Edits <paramref name="model"/> in place and says which nodes it changed.</summary>
    public static DeterminismReport MakeDeterministic(ModelProto model, RandomOpPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(model);
        GraphProto graph = model.Graph;
        var changed = new List<string>();
        string? zero = null;
        foreach (NodeProto node in graph.Node.Where(n => SeededOps.Contains(n.OpType)))
        {
            string label = node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? node.OpType;
            if (policy == RandomOpPolicy.ZeroRatio && DropoutOps.Contains(node.OpType))
            {
                zero ??= ZeroRatio(graph);
                SetRatio(graph, node, zero);
            }
            SetSeed(node, SeedOf(label));
            changed.Add(label);
        }
        return new DeterminismReport(policy, changed);
    }

    /// <summary>A 31-bit FNV-1a hash of the name: stable across processes, unlike string.GetHashCode.</summary>
    public static long SeedOf(string name)
    {
        uint hash = 2166136261;
        foreach (char c in name)
        {
            hash = (hash ^ c) * 16777619;
        }
        return hash & 0x7FFFFFFF;
    }

    private static void SetSeed(NodeProto node, long seed)
    {
        AttributeProto? existing = node.Attribute.FirstOrDefault(a => a.Name == "seed");
        if (existing is not null)
        {
            node.Attribute.Remove(existing);
        }
        // RandomUniform & co. declare seed a float; Dropout and the contrib dropouts an int.
        bool floatSeed = node.OpType is "RandomUniform" or "RandomUniformLike" or "RandomNormal" or "RandomNormalLike" or "Bernoulli" or "Multinomial";
        node.Attribute.Add(floatSeed
            ? new AttributeProto { Name = "seed", Type = AttributeProto.Types.AttributeType.Float, F = seed }
            : new AttributeProto { Name = "seed", Type = AttributeProto.Types.AttributeType.Int, I = seed });
    }

    /// <summary>Ratio 0 for the dropout and for every DropoutGrad that reads the same ratio (it rescales by 1/(1−ratio)).</summary>
    private static void SetRatio(GraphProto graph, NodeProto dropout, string zero)
    {
        // Dropout(data, ratio, mode) and BitmaskDropout likewise; the bias variants take (data, bias, residual, ratio, mode).
        int ratioIndex = dropout.OpType is "Dropout" or "BitmaskDropout" ? 1 : 3;
        string? old = dropout.Input.Count > ratioIndex && dropout.Input[ratioIndex].Length > 0 ? dropout.Input[ratioIndex] : null;
        while (dropout.Input.Count <= ratioIndex)
        {
            dropout.Input.Add("");
        }
        dropout.Input[ratioIndex] = zero;
        string? mask = dropout.Output.Count > 1 && dropout.Output[1].Length > 0 ? dropout.Output[1] : null;
        foreach (NodeProto gradient in graph.Node.Where(n => n.OpType is "DropoutGrad" or "BitmaskDropoutGrad" && n.Input.Count > 1 && (n.Input[1] == mask || (old is not null && n.Input.Count > 2 && n.Input[2] == old))))
        {
            while (gradient.Input.Count <= 2)
            {
                gradient.Input.Add("");
            }
            gradient.Input[2] = zero;
        }
    }

    private static string ZeroRatio(GraphProto graph)
    {
        string name = "verify/zero_dropout_ratio";
        graph.Initializer.Add(TensorData.Create(name, ElementTypes.Float, [], [0.0]));
        return name;
    }
}
