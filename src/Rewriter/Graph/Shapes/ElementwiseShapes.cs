using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>Ops whose outputs have an input's shape, or the broadcast of their inputs' shapes.</summary>
internal static class ElementwiseShapes
{
    public static readonly string[] Unary =
    [
        "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Neg", "Exp", "Log", "Abs", "Clip", "Reciprocal", "Identity",
        "Softmax", "LogSoftmax", "Gelu", "FastGelu", "QuickGelu", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
        "Trilu", "LeakyRelu", "Elu", "HardSigmoid", "Softplus", "Swish", "Not", "IsNaN", "IsInf", "CumSum",
    ];

    public static readonly string[] Binary = ["Add", "Sub", "Mul", "Div", "Pow", "BiasGelu", "PRelu", "Mod", "Max", "Min", "Sum", "Mean"];

    public static readonly string[] Comparisons = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"];

    public static void SameAsFirstInput(OnnxNode node, ShapeContext context)
    {
        if (context.TypeOf(node.Input(0)) is { } type)
        {
            int elementType = node.OpType is "Not" or "IsNaN" or "IsInf" ? ElementTypes.Bool : type.ElementType;
            context.SetType(node.Output(0), type with { ElementType = elementType });
            if (context.ValuesOf(node.Input(0)) is { } values) context.SetValues(node.Output(0), values);
        }
    }

    public static void Broadcasting(OnnxNode node, ShapeContext context)
    {
        var inputs = node.Inputs.Where(i => i.Length > 0).ToList();
        TensorShape? shape = ShapeMath.Broadcast(inputs.Select(context.ShapeOf));
        int elementType = context.ElementTypeOf(inputs.FirstOrDefault());
        context.SetType(node.Output(0), new TensorType(elementType, shape));
        if (inputs.Count == 2)
        {
            Dim[]? a = context.ValuesOf(inputs[0]), b = context.ValuesOf(inputs[1]);
            Dim[]? folded = node.OpType switch
            {
                "Add" => ShapeMath.Elementwise(a, b, (x, y) => x + y),
                "Sub" => ShapeMath.Elementwise(a, b, (x, y) => x - y),
                "Mul" => ShapeMath.Elementwise(a, b, (x, y) => x * y),
                "Div" => ShapeMath.Elementwise(a, b, (x, y) => y == 0 ? 0 : x / y),
                "Max" => ShapeMath.Elementwise(a, b, Math.Max),
                "Min" => ShapeMath.Elementwise(a, b, Math.Min),
                _ => null,
            };
            if (folded is not null) context.SetValues(node.Output(0), folded);
        }
    }

    public static void Comparison(OnnxNode node, ShapeContext context)
    {
        context.SetType(node.Output(0), new TensorType(ElementTypes.Bool, ShapeMath.Broadcast(node.Inputs.Where(i => i.Length > 0).Select(context.ShapeOf))));
        // The exporter's expand(-1) idiom, Where(Equal(sizes, -1), ones, sizes), needs Equal's
        // values for the sizes (["batch", "sequence"]) to reach Expand.
        if (node.OpType == "Equal" && ShapeMath.Elementwise(context.ValuesOf(node.Input(0)), context.ValuesOf(node.Input(1)), DimEquality) is { } equal)
        {
            context.SetValues(node.Output(0), equal);
        }
    }

    /// <summary>1 or 0 when the equality of two tracked dims is decided (a size is never negative), else unknown.</summary>
    private static Dim DimEquality(Dim a, Dim b)
    {
        if (a.Value is { } x && b.Value is { } y) return Dim.Of(x == y ? 1 : 0);
        if (a.Symbol is not null && a.Symbol == b.Symbol) return Dim.Of(1);
        if (a.Symbol is not null && b.Value < 0 || b.Symbol is not null && a.Value < 0) return Dim.Of(0);
        return Dim.Unknown;
    }

    public static void Where(OnnxNode node, ShapeContext context)
    {
        TensorShape? shape = ShapeMath.Broadcast(node.Inputs.Select(context.ShapeOf));
        context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(1)), shape));
        Dim[]? condition = context.ValuesOf(node.Input(0)), x = context.ValuesOf(node.Input(1)), y = context.ValuesOf(node.Input(2));
        if (condition is null || x is null || y is null || condition.Any(c => !c.IsKnown)) return;
        int n = Math.Max(condition.Length, Math.Max(x.Length, y.Length));
        if (new[] { condition, x, y }.Any(v => v.Length != n && v.Length != 1)) return;
        Dim At(Dim[] v, int i) => v[v.Length == 1 ? 0 : i];
        context.SetValues(node.Output(0), Enumerable.Range(0, n).Select(i => At(condition, i).Value != 0 ? At(x, i) : At(y, i)).ToArray());
    }

    public static void Cast(OnnxNode node, ShapeContext context)
    {
        int to = (int)node.GetInt("to", 0);
        context.SetType(node.Output(0), new TensorType(to, context.ShapeOf(node.Input(0))));
        if (context.ValuesOf(node.Input(0)) is { } values) context.SetValues(node.Output(0), values);
    }

    public static void CastLike(OnnxNode node, ShapeContext context) =>
        context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(1)), context.ShapeOf(node.Input(0))));

    public static void Dropout(OnnxNode node, ShapeContext context)
    {
        SameAsFirstInput(node, context);
        context.SetType(node.Output(1), new TensorType(ElementTypes.Bool, context.ShapeOf(node.Input(0))));
    }
}
