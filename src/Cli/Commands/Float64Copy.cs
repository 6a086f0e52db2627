using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// A float64 copy of a float32 model, for finite-difference checks: float32 rounding in a deep
/// forward pass makes the loss too noisy to difference at 1e-3 relative, float64 does not. Every
/// float32 (and float16/bfloat16) initializer, input, output, Cast target and constant becomes
/// float64: the graph's gradients pass a rounding Cast straight through, and so does the copy. Ops whose ONNX
/// Runtime CPU kernels exist only for float32 (<see cref="Float32Only"/>) run inside a Cast island
/// (inputs cast down, outputs cast back up), except Erf, com.microsoft Gelu / BiasGelu / FastGelu /
/// QuickGelu, which are rebuilt from float64 ops (a float32 FastGelu island alone left GPT-2's
/// attention gradients 4e-2 from their finite differences); erf as Abramowitz–Stegun 7.1.26, erf(x) ≈ sign(x)·(1 − t·P(t)·e^(−x²)),
/// t = 1/(1 + 0.3275911·|x|): its value is within 1.5e-7 of erf and its slope within 7e-6 of erf',
/// and unlike a float32 island it adds no rounding noise for the differences to pick up.
/// </summary>
internal static class Float64Copy
{
    private static readonly double[] ErfCoefficients = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];
    private const double ErfP = 0.3275911;

    /// <summary>Ops without float64 CPU kernels in ONNX Runtime 1.31 (Erf is rebuilt instead).</summary>
    public static readonly IReadOnlySet<string> Float32Only = new HashSet<string>(StringComparer.Ordinal)
    {
        "FusedMatMul",
    };

    public static OnnxModel Convert(OnnxModel model)
    {
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph);
        ModelProto proto = model.Proto.Clone();
        GraphProto graph = proto.Graph;
        foreach (ValueInfoProto info in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (info.Type?.TensorType is { } tensor && Widened(tensor.ElemType)) tensor.ElemType = ElementTypes.Double;
        }
        for (int i = 0; i < graph.Initializer.Count; i++)
        {
            graph.Initializer[i] = ToDouble(graph.Initializer[i], model);
        }
        var nodes = graph.Node.ToList();
        graph.Node.Clear();
        int counter = 0;
        foreach (NodeProto node in nodes)
        {
            ConvertAttributes(node, model);
            if (node.Input.Count > 0 && IsFloat(types, node.Input[0]) && Rebuild(graph, node, ref counter) is { } rebuilt)
            {
                graph.Node.AddRange(rebuilt);
                continue;
            }
            if (!Float32Only.Contains(node.OpType))
            {
                graph.Node.Add(node);
                continue;
            }
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (IsFloat(types, node.Input[i]))
                {
                    string down = $"{node.Input[i]}__f32_{counter++}";
                    graph.Node.Add(CastNode(node.Input[i], down, ElementTypes.Float));
                    node.Input[i] = down;
                }
            }
            var ups = new List<NodeProto>();
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (IsFloat(types, node.Output[i]))
                {
                    string low = $"{node.Output[i]}__f32_{counter++}";
                    ups.Add(CastNode(low, node.Output[i], ElementTypes.Double));
                    node.Output[i] = low;
                }
            }
            graph.Node.Add(node);
            graph.Node.AddRange(ups);
        }
        return OnnxModel.FromProto(proto, model.FileName + " (float64 copy)", model.BaseDirectory, model.Limits);
    }

    /// <summary>Float64 replacements for the float32-only activations (null: keep the node).</summary>
    private static List<NodeProto>? Rebuild(GraphProto graph, NodeProto node, ref int counter)
    {
        string domain = OnnxModel.NormalizeDomain(node.Domain);
        var b = new Float64Ops(graph, $"{node.Output[0]}__f64_{counter++}_");
        string x = node.Input[0];
        string y = node.Output[0];
        switch (node.OpType)
        {
            case "Erf":
                b.Erf(x, y);
                break;
            case "Gelu" when domain == "com.microsoft":
                b.Gelu(x, y);
                break;
            case "BiasGelu" when domain == "com.microsoft":
                b.Gelu(b.Op("Add", "biased", x, node.Input[1]), y);
                break;
            case "FastGelu" when domain == "com.microsoft":
                b.TanhGelu(node.Input.Count > 1 && node.Input[1].Length > 0 ? b.Op("Add", "biased", x, node.Input[1]) : x, y);
                break;
            case "QuickGelu" when domain == "com.microsoft":
                float alpha = node.Attribute.FirstOrDefault(a => a.Name == "alpha")?.F ?? 1.702f;
                b.Op("Mul", y, x, b.Op("Sigmoid", "sigmoid", b.Op("Mul", "ax", x, b.Const("alpha", alpha))), output: y);
                break;
            default:
                return null;
        }
        return b.Nodes;
    }

    /// <summary>Writes small float64 formulas as nodes with a common name prefix.</summary>
    private sealed class Float64Ops(GraphProto graph, string prefix)
    {
        public List<NodeProto> Nodes { get; } = [];

        public string Const(string name, double value)
        {
            graph.Initializer.Add(TensorData.Create(prefix + name, ElementTypes.Double, [], [value]));
            return prefix + name;
        }

        public string Op(string op, string name, string a, string? b = null, string? output = null)
        {
            var node = new NodeProto { OpType = op, Name = prefix + name };
            node.Input.Add(a);
            if (b is not null) node.Input.Add(b);
            node.Output.Add(output ?? prefix + name);
            Nodes.Add(node);
            return node.Output[0];
        }

        /// <summary>Abramowitz–Stegun 7.1.26: sign(x)·(1 − t·P(t)·e^(−x²)), t = 1/(1 + p·|x|).</summary>
        public string Erf(string x, string? output = null)
        {
            string abs = Op("Abs", "abs", x);
            string one = Const("one", 1.0);
            string t = Op("Reciprocal", "t", Op("Add", "den", Op("Mul", "px", abs, Const("p", ErfP)), one));
            string poly = Const("a5", ErfCoefficients[4]);
            for (int i = 3; i >= 0; i--)
            {
                poly = Op("Add", $"h{i}", Op("Mul", $"m{i}", poly, t), Const($"a{i + 1}", ErfCoefficients[i]));
            }
            poly = Op("Mul", "poly", poly, t);
            string gauss = Op("Exp", "gauss", Op("Neg", "negsq", Op("Mul", "sq", abs, abs)));
            string magnitude = Op("Sub", "magnitude", one, Op("Mul", "tail", poly, gauss));
            return Op("Mul", "erf", Op("Sign", "sign", x), magnitude, output);
        }

        /// <summary>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
        public string TanhGelu(string x, string output)
        {
            string cube = Op("Mul", "cube", x, Op("Mul", "square", x, x));
            string inner = Op("Add", "inner", x, Op("Mul", "cubic", cube, Const("c", 0.044715)));
            string tanh = Op("Tanh", "tanh", Op("Mul", "scaled", inner, Const("sqrt_2_over_pi", Math.Sqrt(2 / Math.PI))));
            string half = Op("Mul", "half_x", x, Const("half", 0.5));
            return Op("Mul", "gelu", half, Op("Add", "one_plus_tanh", tanh, Const("one", 1.0)), output);
        }

        /// <summary>0.5·x·(1 + erf(x/√2)).</summary>
        public string Gelu(string x, string output)
        {
            string erf = Erf(Op("Mul", "scaled", x, Const("inv_sqrt2", 1 / Math.Sqrt(2))));
            string half = Op("Mul", "half_x", x, Const("half", 0.5));
            return Op("Mul", "gelu", half, Op("Add", "one_plus_erf", erf, Const("one_b", 1.0)), output);
        }
    }

    private static bool IsFloat(IReadOnlyDictionary<string, TensorType> types, string value) =>
        value.Length > 0 && types.TryGetValue(value, out TensorType? t) && Widened(t.ElementType);

    /// <summary>float32, and the 16-bit floats of mixed-precision graphs: their rounding Casts would make the loss a staircase that finite differences cannot read.</summary>
    private static bool Widened(int elementType) => elementType is ElementTypes.Float or ElementTypes.Float16 or ElementTypes.BFloat16;

    private static NodeProto CastNode(string input, string output, int to)
    {
        var node = new NodeProto { OpType = "Cast", Name = output + "_cast" };
        node.Input.Add(input);
        node.Output.Add(output);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = to });
        return node;
    }

    private static void ConvertAttributes(NodeProto node, OnnxModel model)
    {
        foreach (AttributeProto attribute in node.Attribute)
        {
            if (node.OpType == "Cast" && attribute.Name == "to" && Widened((int)attribute.I)) attribute.I = ElementTypes.Double;
            if (attribute.T is { } t && Widened(t.DataType)) attribute.T = ToDouble(t, model);
        }
        if (node.OpType == "Constant" && node.Attribute.FirstOrDefault(a => a.Name == "value_float") is { } scalar)
        {
            node.Attribute.Remove(scalar);
            node.Attribute.Add(new AttributeProto
            {
                Name = "value", Type = AttributeProto.Types.AttributeType.Tensor,
                T = TensorData.Create("value", ElementTypes.Double, [], [scalar.F]),
            });
        }
    }

    private static TensorProto ToDouble(TensorProto tensor, OnnxModel model) =>
        Widened(tensor.DataType)
            ? TensorData.Create(tensor.Name, ElementTypes.Double, [.. tensor.Dims], TensorData.ToDoubles(tensor, model))
            : tensor;
}
