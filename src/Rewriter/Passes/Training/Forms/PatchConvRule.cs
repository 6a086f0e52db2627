using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training.Autodiff;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Training.Forms;

/// <summary>
/// A ViT patch embedding, Conv(x, W, b) with kernel = stride and no padding, written as the
/// linear layer it is, so that it is differentiated by the MatMul, Reshape and Transpose rules
/// (ONNX Runtime's ConvGrad exists only in its training builds, and the project's op library has
/// none). x [N, C, H, W] is cut into its non-overlapping p×q patches, each flattened in W's
/// (c, i, j) order: patches [N, H/p·W/q, C·p·q] · Wᵀ [C·p·q, D] + b, laid back out as
/// [N, D, H/p, W/q]. Exact: the same products, summed in another order.
/// </summary>
public sealed class PatchConvRule : RewriteRule
{
    private readonly AnyValue _x = P.Var("x");
    private readonly AnyValue _w = P.Var("W");

    /// <summary>
    /// Builds the pattern: any Conv(x, W[, b]); <see cref="Check"/> tells patch embeddings from other
    /// convolutions.
    /// </summary>
    public PatchConvRule()
    {
        Pattern = new NodeValue("Conv", "", [_x, _w], commutative: false) { AllowExtraInputs = true };
    }

    /// <summary>"patch-conv", as the training-forms report names the rule.</summary>
    public override string Name => "patch-conv";

    /// <summary>Conv(x, W), with or without a bias.</summary>
    public override ValuePattern Pattern { get; }

    /// <summary>
    /// Refuses unless W is a constant 4-D tensor, x's channels and image size are known, and the Conv
    /// is ungrouped, undilated and unpadded with stride equal to its kernel, which tiles the image
    /// exactly.
    /// </summary>
    public override string? Check(PatternMatch match, RewriteContext context)
    {
        OnnxNode conv = match.Root;
        if (context.Graph.ConstantTensor(match[_w]) is not { Dims.Count: 4 } weight)
        {
            return $"its weight '{match[_w]}' is not a constant 4-D tensor";
        }
        if (context.TypeOf(match[_x])?.Shape is not { Rank: 4 } shape || shape.Dims.Skip(1).Any(d => !d.IsKnown))
        {
            return $"the channels and image size of '{match[_x]}' are not known numbers";
        }
        long[] kernel = [weight.Dims[2], weight.Dims[3]];
        if (conv.GetInts("kernel_shape") is { } k && !k.SequenceEqual(kernel)) return "kernel_shape differs from the weight's";
        if (!(conv.GetInts("strides") ?? [1, 1]).SequenceEqual(kernel)) return "its stride differs from its kernel: the patches overlap or leave gaps";
        if ((conv.GetInts("pads") ?? []).Any(p => p != 0)) return "it pads the image";
        if (conv.Attribute("auto_pad") is { } a && a.S.ToStringUtf8() is not ("NOTSET" or "VALID")) return "it pads the image (auto_pad)";
        if ((conv.GetInts("dilations") ?? []).Any(d => d != 1)) return "it is dilated";
        if (conv.GetInt("group", 1) != 1) return "it is a grouped convolution";
        if (shape.Dims[1].Value != weight.Dims[1]) return "its weight's channels differ from the input's";
        if (shape.Dims[2].Value % kernel[0] != 0 || shape.Dims[3].Value % kernel[1] != 0)
        {
            return $"the image size {shape.Dims[2]}×{shape.Dims[3]} is not a multiple of the patch size {kernel[0]}×{kernel[1]}";
        }
        return null;
    }

    /// <summary>
    /// Replaces the Conv by the Reshape/Transpose/MatMul chain described above, producing the Conv's
    /// output under its name.
    /// </summary>
    public override RuleOutcome Rewrite(PatternMatch match, RewriteContext context)
    {
        OnnxNode conv = match.Root;
        OnnxGraph graph = context.Graph;
        var weight = graph.ConstantTensor(match[_w])!;
        TensorShape shape = context.TypeOf(match[_x])!.Shape!;
        long d = weight.Dims[0], c = weight.Dims[1], p = weight.Dims[2], q = weight.Dims[3];
        long rows = shape.Dims[2].Value!.Value / p, columns = shape.Dims[3].Value!.Value / q;
        string scope = (conv.Name.Length > 0 ? conv.Name : conv.Outputs[0]) + "/Patches";
        var emit = new GraphEmitter(graph, scope + "/");
        var nodes = new List<NodeProto>();
        string Add(string op, string[] inputs, string hint, params AttributeProto[] attributes)
        {
            string output = graph.UniqueName($"{scope}/{hint}");
            nodes.Add(GraphEdits.Node(op, "", graph.UniqueName($"{scope}/{op}"), inputs, [output], attributes));
            return output;
        }

        string grid = Add("Reshape", [match[_x], emit.Int64s([-1, c, rows, p, columns, q])], "grid");
        string ordered = Add("Transpose", [grid], "ordered", GraphEmitter.Ints("perm", [0, 2, 4, 1, 3, 5]));
        string patches = Add("Reshape", [ordered, emit.Int64s([-1, rows * columns, c * p * q])], "patches");
        string transposed = Add("Transpose", [match[_w]], "weight_t", GraphEmitter.Ints("perm", [1, 2, 3, 0]));
        string matrix = Add("Reshape", [transposed, emit.Int64s([c * p * q, d])], "weight_matrix");
        string tokens = Add("MatMul", [patches, matrix], "tokens");
        if (conv.Input(2) is { Length: > 0 } bias)
        {
            tokens = Add("Add", [tokens, bias], "tokens_biased");
        }
        string image = Add("Reshape", [tokens, emit.Int64s([-1, rows, columns, d])], "image");
        nodes.Add(GraphEdits.Node("Transpose", "", graph.UniqueName($"{scope}/Layout"), [image], [conv.Outputs[0]], GraphEmitter.Ints("perm", [0, 3, 1, 2])));
        GraphEdits.ReplaceMatch(context, match, [.. nodes]);
        return new RuleOutcome(scope);
    }
}
