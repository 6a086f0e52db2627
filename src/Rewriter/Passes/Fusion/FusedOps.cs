using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Fusion;

/// <summary>
/// Which fused op to emit for the model's opset: the standard op where the opset has it
/// (Gelu-20, LayerNormalization-17, RMSNormalization-23, Swish-24), else ONNX Runtime's
/// (com.microsoft Gelu / FastGelu / BiasGelu / QuickGelu; LayerNormalization and
/// SimplifiedLayerNormalization, which ONNX Runtime registers in the default domain since 1).
/// </summary>
internal static class FusedOps
{
    public const string Microsoft = "com.microsoft";

    public static NodeProto Gelu(RewriteContext context, OnnxNode root, string x, bool tanh)
    {
        string y = root.Outputs[0];
        if (context.OnnxOpset >= 20)
        {
            var node = GraphEdits.Node("Gelu", "", NameFor(context, root, "Gelu"), [x], [y]);
            if (tanh) node.Attribute.Add(GraphEdits.Attr("approximate", "tanh"));
            return node;
        }
        context.Model.EnsureOpset(Microsoft, 1);
        string op = tanh ? "FastGelu" : "Gelu";
        return GraphEdits.Node(op, Microsoft, NameFor(context, root, op), [x], [y]);
    }

    public static NodeProto LayerNorm(RewriteContext context, OnnxNode root, string x, string scale, string bias, long axis, float epsilon) =>
        GraphEdits.Node("LayerNormalization", "", NameFor(context, root, "LayerNormalization"), [x, scale, bias], [root.Outputs[0]],
            GraphEdits.Attr("axis", axis), GraphEdits.Attr("epsilon", epsilon));

    public static NodeProto RmsNorm(RewriteContext context, OnnxNode root, string x, string scale, long axis, float epsilon)
    {
        string op = context.OnnxOpset >= 23 ? "RMSNormalization" : "SimplifiedLayerNormalization";
        return GraphEdits.Node(op, "", NameFor(context, root, op), [x, scale], [root.Outputs[0]],
            GraphEdits.Attr("axis", axis), GraphEdits.Attr("epsilon", epsilon));
    }

    /// <summary>x·σ(αx): Swish-24 (attribute alpha) from opset 24, else ONNX Runtime's QuickGelu(alpha).</summary>
    public static NodeProto Silu(RewriteContext context, OnnxNode root, string x, float alpha)
    {
        if (context.OnnxOpset >= 24)
        {
            return GraphEdits.Node("Swish", "", NameFor(context, root, "Swish"), [x], [root.Outputs[0]], GraphEdits.Attr("alpha", alpha));
        }
        context.Model.EnsureOpset(Microsoft, 1);
        return GraphEdits.Node("QuickGelu", Microsoft, NameFor(context, root, "QuickGelu"), [x], [root.Outputs[0]], GraphEdits.Attr("alpha", alpha));
    }

    /// <summary>Fused nodes are named after the node whose output they take over, so reports point at the source.</summary>
    public static string NameFor(RewriteContext context, OnnxNode root, string op) =>
        context.Graph.UniqueName($"{(root.Name.Length > 0 ? root.Name : root.Outputs[0])}/{op}");
}
