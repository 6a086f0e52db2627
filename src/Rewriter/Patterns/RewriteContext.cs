using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Patterns;

/// <summary>
/// What rules see while they run: the model and its graph, value types (inferred on demand and
/// refreshed after edits), the `--dim` bindings and the user's options.
/// </summary>
public sealed class RewriteContext
{
    private IReadOnlyDictionary<string, TensorType>? _types;

    public RewriteContext(OnnxModel model, DimBindings? dims = null, RewriteOptions? options = null)
    {
        Model = model;
        Dims = dims ?? DimBindings.None;
        Options = options ?? new RewriteOptions();
        Scope = new MatchScope(model.Graph);
    }

    public OnnxModel Model { get; }

    public OnnxGraph Graph => Model.Graph;

    public DimBindings Dims { get; }

    public RewriteOptions Options { get; }

    public MatchScope Scope { get; }

    /// <summary>The default-domain opset the model imports (1 when it imports none).</summary>
    public long OnnxOpset => Model.OpsetVersion("") ?? 1;

    public IReadOnlyDictionary<string, TensorType> Types => _types ??= ShapeInference.Infer(Graph, Dims);

    public TensorType? TypeOf(string value) => Types.GetValueOrDefault(value);

    /// <summary>Called after every edit: types of new values are inferred again when next asked for.</summary>
    public void Invalidate() => _types = null;
}

/// <summary>User choices that change what the passes may do.</summary>
public sealed record RewriteOptions
{
    /// <summary>
    /// Let MS-LN / MS-RMSNorm rewrite norms whose γ, β are trainable (graph inputs): the affine is
    /// then recomputed from the shared normalised tensor instead of being folded offline.
    /// </summary>
    public bool FoldTrainableAffine { get; init; }
}
