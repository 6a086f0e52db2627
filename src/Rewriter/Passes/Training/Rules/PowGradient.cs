using OnnxMemOpt.Graph;
using OnnxMemOpt.Passes.Training.Autodiff;

namespace OnnxMemOpt.Passes.Training.Rules;

/// <summary>
/// Y = A^B: dA = dY·B·A^(B−1) and dB = dY·Y·ln(A). A constant exponent of 2 (RMSNorm's x²) is
/// written dA = dY·2·A, which avoids a Pow in the backward pass.
/// </summary>
internal sealed class PowGradient : IGradientRule
{
    public IEnumerable<(string Domain, string OpType)> Ops => [("", "Pow")];

    public void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext c)
    {
        string dY = outputGradients[0]!;
        string y = node.Output(0)!;
        string a = node.Input(0)!;
        string b = node.Input(1)!;
        if (c.NeedsGradient(a))
        {
            int type = c.ElementTypeOf(a);
            string hint = GradientContext.GradName(a);
            string derivative;
            if (ConstantExponent(c, b) is 2.0)
            {
                derivative = c.Emit.Op("Mul", [a, c.Emit.Scalar(2.0, type)], hint);
            }
            else
            {
                string exponent = c.ElementTypeOf(b) == type ? b : c.Emit.Cast(b, type, b + "_cast");
                string reduced = c.Emit.Op("Sub", [exponent, c.Emit.Scalar(1.0, type)], b + "_minus_1");
                derivative = c.Emit.Op("Mul", [exponent, c.Emit.Op("Pow", [a, reduced], hint)], hint);
            }
            string full = c.Emit.Op("Mul", [dY, derivative], hint);
            c.AddGradient(a, c.Broadcast.ToShapeOf(full, a, y));
        }
        if (c.NeedsGradient(b))
        {
            string hint = GradientContext.GradName(b);
            string full = c.Emit.Op("Mul", [c.Emit.Op("Mul", [dY, y], hint), c.Emit.Op("Log", [a], a + "_log")], hint);
            c.AddGradient(b, c.Broadcast.ToShapeOf(full, b, y));
        }
    }

    private static double? ConstantExponent(GradientContext c, string b) =>
        c.Graph.ConstantTensor(b) is { } t && Onnx.TensorData.ElementCount(t) == 1 ? Onnx.TensorData.ToDoubles(t, c.Graph.Model)[0] : null;
}
