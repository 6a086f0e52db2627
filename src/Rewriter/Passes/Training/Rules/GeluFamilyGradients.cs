using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// The fused GELU-family ops and their ONNX Runtime gradient ops:
/// Gelu → GeluGrad(dY, X) (ONNX Gelu-20 with approximate="tanh" → FastGeluGrad);
/// FastGelu(X) → FastGeluGrad(dY, X), FastGelu(X, bias) → BiasFastGeluGrad_dX(dY, X, bias);
/// BiasGelu(A, B) → BiasGeluGrad_dX(dY, A, B); QuickGelu → QuickGeluGrad(dY, X) with the same alpha,
/// and ONNX Swish-24 (x·σ(αx), α = 1 by default) → QuickGeluGrad too.
/// The bias gradient is dX summed over the leading axes.
/// </summary>
internal sealed class GeluFamilyGradients : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops =>
        [("*", "Gelu"), (GraphEmitter.MicrosoftDomain, "FastGelu"), (GraphEmitter.MicrosoftDomain, "BiasGelu"), (GraphEmitter.MicrosoftDomain, "QuickGelu"), ("", "Swish")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string x = node.Input(0)!;
        string? bias = node.Input(1);
        bool needX = c.NeedsGradient(x);
        bool needBias = bias is not null && c.NeedsGradient(bias);
        if (!needX && !needBias) return;

        string hint = GradientContext.GradName(x);
        const string ms = GraphEmitter.MicrosoftDomain;
        string dX = node.OpType switch
        {
            "Gelu" when node.GetString("approximate", "none") == "tanh" => c.Emit.Op("FastGeluGrad", [dY, x], hint, ms),
            "Gelu" => c.Emit.Op("GeluGrad", [dY, x], hint, ms),
            "FastGelu" when bias is null => c.Emit.Op("FastGeluGrad", [dY, x], hint, ms),
            "FastGelu" => c.Emit.Op("BiasFastGeluGrad_dX", [dY, x, bias], hint, ms),
            "BiasGelu" => c.Emit.Op("BiasGeluGrad_dX", [dY, x, bias!], hint, ms),
            "QuickGelu" => c.Emit.Op("QuickGeluGrad", [dY, x], hint, ms, GraphEmitter.Float("alpha", node.GetFloat("alpha", 1.702f))),
            // ONNX Swish-24 is x·σ(αx) with α defaulting to 1: QuickGelu's function, so QuickGeluGrad.
            "Swish" => c.Emit.Op("QuickGeluGrad", [dY, x], hint, ms, GraphEmitter.Float("alpha", node.GetFloat("alpha", 1.0f))),
            _ => throw new InvalidOperationException(node.OpType),
        };
        if (needX)
        {
            // With a bias the op's output has X's shape (the bias broadcasts along the last axis).
            c.AddGradient(x, bias is null ? dX : c.Broadcast.ToShapeOf(dX, x, node.Output(0)!));
        }
        if (needBias)
        {
            c.AddGradient(bias, c.Broadcast.ToShapeOf(dX, bias!, node.Output(0)!));
        }
    }
}
