using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// A float64 copy of a float32 model, for finite-difference checks: float32 rounding in a deep
/// forward pass makes the loss too noisy to difference at 1e-3 relative, float64 does not. Every
/// float32 initializer, input, output, Cast target and constant becomes float64. Ops whose ONNX
/// Runtime CPU kernels exist only for float32 (<see cref="Float32Only"/>) run inside a Cast island
/// (inputs cast down, outputs cast back up). Erf, the one such op in exported encoders, is instead
/// rebuilt from float64 ops as Abramowitz–Stegun 7.1.26, erf(x) ≈ sign(x)·(1 − t·P(t)·e^(−x²)),
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
        "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "FusedMatMul",
    };

    public static OnnxModel Convert(OnnxModel model)
    {
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(model.Graph);
        ModelProto proto = model.Proto.Clone();
        GraphProto graph = proto.Graph;
        foreach (ValueInfoProto info in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (info.Type?.TensorType is { ElemType: ElementTypes.Float } tensor) tensor.ElemType = ElementTypes.Double;
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
            if (node.OpType == "Erf" && IsFloat(types, node.Input[0]))
            {
                graph.Node.AddRange(ErfFromFloat64Ops(graph, node.Input[0], node.Output[0], ref counter));
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

    private static IEnumerable<NodeProto> ErfFromFloat64Ops(GraphProto graph, string x, string y, ref int counter)
    {
        string prefix = $"{y}__erf{counter++}_";
        var nodes = new List<NodeProto>();
        string Const(string name, double value)
        {
            graph.Initializer.Add(TensorData.Create(prefix + name, ElementTypes.Double, [], [value]));
            return prefix + name;
        }
        string Op(string op, string name, params string[] inputs)
        {
            var node = new NodeProto { OpType = op, Name = prefix + name };
            node.Input.AddRange(inputs);
            node.Output.Add(prefix + name);
            nodes.Add(node);
            return prefix + name;
        }
        string abs = Op("Abs", "abs", x);
        string t = Op("Reciprocal", "t", Op("Add", "den", Op("Mul", "px", abs, Const("p", ErfP)), Const("one", 1.0)));
        string poly = Const("a5", ErfCoefficients[4]);
        for (int i = 3; i >= 0; i--)
        {
            poly = Op("Add", $"h{i}", Op("Mul", $"m{i}", poly, t), Const($"a{i + 1}", ErfCoefficients[i]));
        }
        poly = Op("Mul", "poly", poly, t);
        string gauss = Op("Exp", "gauss", Op("Neg", "negsq", Op("Mul", "sq", abs, abs)));
        string magnitude = Op("Sub", "magnitude", prefix + "one", Op("Mul", "tail", poly, gauss));
        var last = new NodeProto { OpType = "Mul", Name = prefix + "erf" };
        last.Input.AddRange([Op("Sign", "sign", x), magnitude]);
        last.Output.Add(y);
        nodes.Add(last);
        return nodes;
    }

    private static bool IsFloat(IReadOnlyDictionary<string, TensorType> types, string value) =>
        value.Length > 0 && types.TryGetValue(value, out TensorType? t) && t.ElementType == ElementTypes.Float;

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
            if (node.OpType == "Cast" && attribute.Name == "to" && attribute.I == ElementTypes.Float) attribute.I = ElementTypes.Double;
            if (attribute.T is { DataType: ElementTypes.Float } t) attribute.T = ToDouble(t, model);
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
        tensor.DataType == ElementTypes.Float
            ? TensorData.Create(tensor.Name, ElementTypes.Double, [.. tensor.Dims], TensorData.ToDoubles(tensor, model))
            : tensor;
}
