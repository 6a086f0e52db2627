using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Training;

/// <summary>
/// Hyper-parameters of ONNX Runtime's com.microsoft AdamWOptimizer node. Defaults are the op schema's
/// (training_op_defs.cc): ONNX Runtime fills a node's missing attributes from its schema when it
/// resolves the graph, so these (not the kernel's fallbacks) are what an attribute-less node runs with.
/// </summary>
public sealed record AdamWSettings
{
    /// <summary>β1: weight of the previous first moment.</summary>
    public float Alpha { get; init; } = 0.9f;

    /// <summary>β2: weight of the previous second moment.</summary>
    public float Beta { get; init; } = 0.999f;

    /// <summary>ε: added to the root of the second moment so the step stays finite where v is near zero.</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>λ: decoupled weight decay; each update also subtracts η·λ·w (0 turns it off).</summary>
    public float WeightDecay { get; init; } = 1e-2f;

    /// <summary>0: PyTorch AdamW (decay first, bias-corrected moments); 1: Hugging Face AdamW (bias-corrected learning rate, decay last).</summary>
    public int AdamMode { get; init; }

    /// <summary>Apply Adam's bias corrections 1−αᵗ and 1−βᵗ; mode 0 requires it.</summary>
    public bool CorrectBias { get; init; } = true;

    /// <summary>The optimizer node's op type, as ONNX Runtime's optimizer models spell it.</summary>
    public const string OpType = "AdamWOptimizer";
    /// <summary>The domain of ONNX Runtime's training ops (AdamWOptimizer, InPlaceAccumulatorV2, the gradient ops).</summary>
    public const string Domain = "com.microsoft";

    /// <summary>Throws when the combination is one ONNX Runtime's kernel rejects.</summary>
    public AdamWSettings Validate()
    {
        if (AdamMode is not (0 or 1))
        {
            throw new ArgumentException($"AdamW adam_mode must be 0 or 1, not {AdamMode}.");
        }
        if (AdamMode == 0 && !CorrectBias)
        {
            throw new ArgumentException("AdamW adam_mode 0 (PyTorch semantics) requires correct_bias = 1.");
        }
        return this;
    }

    /// <summary>Reads the single AdamWOptimizer node of an ONNX Runtime optimizer model.</summary>
    public static AdamWSettings FromOptimizerModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ModelProto model;
        using (FileStream stream = File.OpenRead(path))
        {
            model = ModelProto.Parser.ParseFrom(stream);
        }
        NodeProto[] nodes = model.Graph?.Node.Where(n => n.OpType == OpType && n.Domain == Domain).ToArray() ?? [];
        if (nodes.Length != 1)
        {
            throw new InvalidDataException($"{path}: expected one {Domain}.{OpType} node, found {nodes.Length}.");
        }
        return FromNode(nodes[0], path);
    }

    /// <summary>Reads the attributes of an AdamWOptimizer <paramref name="node"/>; missing ones keep the schema defaults above.</summary>
    /// <param name="node">The AdamWOptimizer node.</param>
    /// <param name="source">Where the node came from, for error messages.</param>
    /// <exception cref="InvalidDataException">An attribute is out of range or the combination is one ONNX Runtime rejects.</exception>
    public static AdamWSettings FromNode(NodeProto node, string source)
    {
        ArgumentNullException.ThrowIfNull(node);
        var settings = new AdamWSettings();
        foreach (AttributeProto attribute in node.Attribute)
        {
            settings = attribute.Name switch
            {
                "alpha" => settings with { Alpha = attribute.F },
                "beta" => settings with { Beta = attribute.F },
                "epsilon" => settings with { Epsilon = attribute.F },
                "weight_decay" => settings with { WeightDecay = attribute.F },
                "adam_mode" => settings with { AdamMode = checked((int)attribute.I) },
                "correct_bias" => settings with { CorrectBias = attribute.I switch
                {
                    0 => false,
                    1 => true,
                    _ => throw new InvalidDataException($"{source}: AdamW correct_bias must be 0 or 1, not {attribute.I}."),
                } },
                _ => settings,
            };
        }
        try
        {
            return settings.Validate();
        }
        catch (ArgumentException error)
        {
            throw new InvalidDataException($"{source}: {error.Message}", error);
        }
    }
}
