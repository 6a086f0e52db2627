using System.Collections.Frozen;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>
/// A float64 copy of a float32 model, for finite-difference checks: float32 rounding in a deep
/// forward pass makes the loss too noisy to difference at 1e-3 relative, float64 does not. Every
/// float32 (and float16/bfloat16) initializer, input, output, Cast target and constant becomes
/// float64: the graph's gradients pass a rounding Cast straight through, and so does the copy. Ops whose ONNX
/// Runtime CPU kernels exist only for float32 (<see cref="Float32Only"/>) run inside a Cast island
/// (inputs cast down, outputs cast back up), except Erf, com.microsoft Gelu / BiasGelu / FastGelu /
/// QuickGelu, which are rebuilt from float64 ops (a float32 FastGelu island alone left GPT-2's
/// attention gradients 4e-2 from their finite differences). erf is a series and a continued
/// fraction accurate to float64 (<see cref="Float64Ops.Erf"/>): the Abramowitz–Stegun formula used
/// before had its slope 7e-6 off erf', which gradcheck reported as 1e-5 gradient errors on GELU models.
/// </summary>
public static class Float64Copy
{
    private const double ErfSeriesLimit = 2.5;
    private const int ErfSeriesTerms = 36;
    private const int ErfFractionTerms = 40;

    /// <summary>Ops without float64 CPU kernels in ONNX Runtime 1.31 (Erf is rebuilt instead).</summary>
    public static readonly IReadOnlySet<string> Float32Only = new[] { "FusedMatMul" }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The float64 copy of <paramref name="model"/>; the model itself is not changed.</summary>
    public static OnnxModel Convert(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
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
            if (node.Input.Count > 0 && IsFloat(types, node.Input[0]) && (Rebuild(graph, node, ref counter) ?? RebuildNorm(graph, node, types, ReduceAxesAsInput(model), ref counter)) is { } rebuilt)
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

    /// <summary>
    /// LayerNormalization and com.microsoft SimplifiedLayerNormalization whose statistics outputs
    /// are read (by their gradients), rebuilt from float64 reductions. ONNX Runtime's CPU kernels
    /// emit the mean and inverse standard deviation as float32 for a float64 X, so the gradient
    /// read float32-rounded statistics and gradcheck reported 3e-6 gradient errors on every model
    /// with a LayerNorm. Null (keep the node) when no statistic is read or a positive axis meets
    /// an unknown rank.
    /// </summary>
    private static List<NodeProto>? RebuildNorm(GraphProto graph, NodeProto node, IReadOnlyDictionary<string, TensorType> types, bool axesAsInput, ref int counter)
    {
        bool simplified = node.OpType == "SimplifiedLayerNormalization" && OnnxModel.NormalizeDomain(node.Domain) == "com.microsoft";
        if (!simplified && !(node.OpType == "LayerNormalization" && OnnxModel.NormalizeDomain(node.Domain) == "")) return null;
        if (!node.Output.Skip(1).Any(o => o.Length > 0)) return null;
        long axis = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? -1;
        int? rank = types.GetValueOrDefault(node.Input[0])?.Shape?.Rank;
        if (axis >= 0 && rank is null) return null;
        long first = axis < 0 ? axis : axis - rank!.Value;
        long[] axes = Enumerable.Range(0, (int)-first).Select(i => first + i).ToArray();
        double epsilon = node.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5;

        var b = new Float64Ops(graph, $"{node.Output[0]}__f64_{counter++}_");
        string x = node.Input[0];
        string Output(int i, string name) => node.Output.Count > i && node.Output[i].Length > 0 ? node.Output[i] : b.Prefix + name;
        string centered = x;
        string? mean = null;
        if (!simplified)
        {
            mean = b.Mean(x, axes, axesAsInput, "mean", Output(1, "mean"));
            centered = b.Op("Sub", "centered", x, mean);
        }
        string variance = b.Mean(b.Op("Mul", "square", centered, centered), axes, axesAsInput, "variance");
        string invStd = b.Op("Reciprocal", "inv_std", b.Op("Sqrt", "std", b.Op("Add", "variance_eps", variance, b.Const("epsilon", epsilon))),
            output: Output(simplified ? 1 : 2, "inv_std"));
        string scaled = b.Op("Mul", "scaled", b.Op("Mul", "normalized", centered, invStd), node.Input[1]);
        bool bias = !simplified && node.Input.Count > 2 && node.Input[2].Length > 0;
        b.Op(bias ? "Add" : "Identity", "y", scaled, bias ? node.Input[2] : null, output: node.Output[0]);
        return b.Nodes;
    }

    /// <summary>ReduceMean reads its axes from an input from opset 18 on, from an attribute before.</summary>
    private static bool ReduceAxesAsInput(OnnxModel model) => (model.OpsetVersion("") ?? 17) >= 18;

    /// <summary>Writes small float64 formulas as nodes with a common name prefix.</summary>
    private sealed class Float64Ops(GraphProto graph, string prefix)
    {
        public List<NodeProto> Nodes { get; } = [];

        public string Prefix => prefix;

        /// <summary>ReduceMean over <paramref name="axes"/>, keeping them (the statistics' shape in LayerNormalization's schema).</summary>
        public string Mean(string x, long[] axes, bool axesAsInput, string name, string? output = null)
        {
            var node = new NodeProto { OpType = "ReduceMean", Name = prefix + name };
            node.Input.Add(x);
            if (axesAsInput)
            {
                graph.Initializer.Add(TensorData.CreateInt64(prefix + name + "_axes", [axes.Length], axes));
                node.Input.Add(prefix + name + "_axes");
            }
            else
            {
                var attribute = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints };
                attribute.Ints.AddRange(axes);
                node.Attribute.Add(attribute);
            }
            node.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            node.Output.Add(output ?? prefix + name);
            Nodes.Add(node);
            return node.Output[0];
        }

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

        /// <summary>
        /// erf in float64 ops: below <see cref="ErfSeriesLimit"/> the Maclaurin series
        /// (2/√π)·x·Σ (−1)ⁿx²ⁿ/(n!(2n+1)) to <see cref="ErfSeriesTerms"/> terms by Horner in x²; at and
        /// above it 1 − erfc(|x|) with erfc(a) = e^(−a²)/(√π·(a + (1/2)/(a + (2/2)/(a + …)))), the
        /// continued fraction to <see cref="ErfFractionTerms"/> levels. Checked against libm on
        /// [−8, 8]: value within 5e-15, slope within 3e-10 (the approximation's slope error is what a
        /// finite difference would report as a gradient error).
        /// </summary>
        public string Erf(string x, string? output = null)
        {
            string abs = Op("Abs", "abs", x);
            string square = Op("Mul", "square", x, x);
            string series = Const($"c{ErfSeriesTerms - 1}", SeriesCoefficient(ErfSeriesTerms - 1));
            for (int n = ErfSeriesTerms - 2; n >= 0; n--)
            {
                series = Op("Add", $"s{n}", Op("Mul", $"sz{n}", series, square), Const($"c{n}", SeriesCoefficient(n)));
            }
            string small = Op("Mul", "small", Op("Mul", "series_x", series, x), Const("two_over_sqrt_pi", 2 / Math.Sqrt(Math.PI)));

            // The fraction branch never sees |x| below the limit, so no level divides by zero.
            string limit = Const("limit", ErfSeriesLimit);
            string a = Op("Max", "a", abs, limit);
            string fraction = a;
            for (int k = ErfFractionTerms; k >= 1; k--)
            {
                fraction = Op("Add", $"f{k}", a, Op("Div", $"q{k}", Const($"k{k}", k / 2.0), fraction));
            }
            string gauss = Op("Exp", "gauss", Op("Neg", "neg_a2", Op("Mul", "a2", a, a)));
            string erfc = Op("Div", "erfc", gauss, Op("Mul", "sqrt_pi_f", fraction, Const("sqrt_pi", Math.Sqrt(Math.PI))));
            string large = Op("Mul", "large", Op("Sign", "sign", x), Op("Sub", "one_minus_erfc", Const("one", 1.0), erfc));

            var select = new NodeProto { OpType = "Where", Name = prefix + "erf" };
            select.Input.Add(Op("Less", "in_series", abs, limit));
            select.Input.Add(small);
            select.Input.Add(large);
            select.Output.Add(output ?? prefix + "erf");
            Nodes.Add(select);
            return select.Output[0];
        }

        private static double SeriesCoefficient(int n)
        {
            double factorial = 1;
            for (int i = 2; i <= n; i++) factorial *= i;
            return (n % 2 == 0 ? 1 : -1) / (factorial * (2 * n + 1));
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
