using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// A frozen norm affine folded into one linear layer that reads the norm's output through a
/// frozen weight: y·W = ẑ·W′ + β·W with W′ = diag(γ)·W (Gemm with transB=1 stores W as [out, k]
/// and scales its columns), computed in float64 and stored in W's type as new initializers. The
/// layer then reads ẑ. Its input gradient dH·W′ᵀ = (dH·Wᵀ)⊙γ is already its share of dẑ: the
/// backward nodes that read W read W′ instead, and their contribution bypasses the γ multiply
/// (see <see cref="Contributions"/>). A frozen W has no weight gradient, so nothing of y is kept
/// for this layer at all.
/// </summary>
internal sealed class LinearFold
{
    private static readonly HashSet<string> Products = new(StringComparer.Ordinal) { "MatMul", "Gemm", "FusedMatMul" };

    private readonly string _weight;
    private readonly bool _weightTransposed;
    private readonly List<(OnnxNode Node, int Index)> _backwardUses;

    private LinearFold(OnnxNode layer, string weight, bool weightTransposed, List<(OnnxNode, int)> backwardUses, List<string> contributions)
    {
        Layer = layer;
        _weight = weight;
        _weightTransposed = weightTransposed;
        _backwardUses = backwardUses;
        Contributions = contributions;
    }

    public OnnxNode Layer { get; }

    /// <summary>The layer's terms in the accumulated gradient of y: after the fold, terms of dẑ.</summary>
    public IReadOnlyList<string> Contributions { get; }

    /// <summary>Describes the fold for the report.</summary>
    public string Describe(string foldedWeight) => $"{Layer.Label} ('{_weight}' → '{foldedWeight}')";

    /// <summary>
    /// The fold of <paramref name="layer"/>, or null with the reason it cannot take it.
    /// <paramref name="dY"/> is the accumulated gradient of y, which the norm's gradient reads.
    /// </summary>
    public static LinearFold? Plan(RewriteContext context, TrainingPhases phases, NormAffine affine, OnnxNode layer, string dY, out string reason)
    {
        OnnxGraph graph = context.Graph;
        string y = affine.Output;
        bool matMul = layer.Is("MatMul") && layer.Input(0) == y && layer.Input(1) != y;
        bool gemm = layer.Is("Gemm") && layer.Input(0) == y && layer.Input(1) != y && layer.GetInt("transA", 0) == 0;
        if (!matMul && !gemm)
        {
            reason = "not a linear layer taking it as its left operand";
            return null;
        }
        string weight = layer.Input(1)!;
        if (graph.Initializer(weight) is not { } tensor || graph.IsGraphInput(weight))
        {
            reason = $"its weight '{weight}' is trainable or computed";
            return null;
        }
        bool transposed = gemm && layer.GetInt("transB", 0) == 1;
        if (tensor.Dims.Count != 2 || affine.Width is not { } k || tensor.Dims[transposed ? 1 : 0] != k
            || tensor.DataType is not (ElementTypes.Float or ElementTypes.Double or ElementTypes.Float16 or ElementTypes.BFloat16))
        {
            reason = $"its weight '{weight}' is not a floating [k, n] matrix over the normalised axis";
            return null;
        }
        if (layer.Output(0) is not { } output || graph.IsGraphOutput(output))
        {
            reason = "its output is a graph output";
            return null;
        }
        if (gemm && affine.Bias is not null && layer.Input(2) is { } c && (graph.ConstantTensor(c) is not { } cTensor || !IsRowVector(cTensor, tensor.Dims[transposed ? 0 : 1])))
        {
            reason = $"its bias '{c}' is not a constant row";
            return null;
        }

        // Backward reads a frozen W only for the layer's input gradient dH·Wᵀ: find every product
        // that does, and the term each adds to dY.
        var uses = new List<(OnnxNode, int)>();
        var products = new List<OnnxNode>();
        foreach (OnnxNode reader in graph.Consumers(weight).Where(r => !ReferenceEquals(r, layer)))
        {
            if (!phases.IsBackward(reader))
            {
                reason = $"its weight '{weight}' is also read by forward node {reader.Label}";
                return null;
            }
            if (reader.Is("Transpose") && IsMatrixTranspose(reader) && reader.Output(0) is { } transposedWeight && !graph.IsGraphOutput(transposedWeight)
                && graph.Consumers(transposedWeight).All(p => Products.Contains(p.OpType)))
            {
                uses.AddRange(IndicesOf(reader, weight).Select(i => (reader, i)));
                products.AddRange(graph.Consumers(transposedWeight));
            }
            else if (Products.Contains(reader.OpType))
            {
                uses.AddRange(IndicesOf(reader, weight).Select(i => (reader, i)));
                products.Add(reader);
            }
            else
            {
                reason = $"its weight '{weight}' is read in backward by {reader.OpType} {reader.Label}, not by its input-gradient product";
                return null;
            }
        }
        var contributions = new List<string>();
        foreach (OnnxNode product in products.Distinct())
        {
            if (Contribution(graph, product, dY) is not { } term)
            {
                reason = $"the input gradient {product.Label} does not flow straight into the accumulated gradient '{dY}'";
                return null;
            }
            contributions.Add(term);
        }
        if (contributions.Count == 0)
        {
            reason = "no input gradient of the layer was found";
            return null;
        }
        reason = "";
        return new LinearFold(layer, weight, transposed, uses, contributions);
    }

    /// <summary>
    /// Applies the fold: W′ and the bias shift β·W as new initializers, the layer reading ẑ and W′,
    /// backward reading W′. W itself goes when nothing reads it any more. Returns W′'s name.
    /// </summary>
    public string Apply(RewriteContext context, NormAffine affine)
    {
        OnnxGraph graph = context.Graph;
        TensorProto weight = graph.Initializer(_weight)!;
        double[] w = TensorData.ToDoubles(weight, context.Model);
        double[] gamma = affine.ScaleValues();
        double[]? beta = affine.Bias is null ? null : affine.BiasValues();
        long rows = weight.Dims[0];
        long columns = weight.Dims[1];
        long outputs = _weightTransposed ? rows : columns;
        var folded = new double[w.Length];
        double[]? shift = beta is null ? null : new double[outputs];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < columns; c++)
            {
                long index = r * columns + c;
                // W [k, out]: row r belongs to input feature r; W [out, k]: column c does.
                long feature = _weightTransposed ? c : r;
                long output = _weightTransposed ? r : c;
                folded[index] = gamma[feature] * w[index];
                if (shift is not null) shift[output] += beta![feature] * w[index];
            }
        }
        string foldedName = graph.UniqueName($"{_weight}_folded");
        graph.AddInitializer(TensorData.Create(foldedName, weight.DataType, [rows, columns], folded));

        Layer.SetInput(0, affine.Normalized);
        Layer.SetInput(1, foldedName);
        foreach ((OnnxNode node, int index) in _backwardUses)
        {
            node.SetInput(index, foldedName);
        }
        if (shift is not null)
        {
            AddShift(context, weight.DataType, shift);
        }
        GraphEdits.RemoveUnusedConstants(graph, [_weight]);
        return foldedName;
    }

    /// <summary>Adds β·W after the product: into a Gemm's C, into a frozen bias added further on, else with a new Add.</summary>
    private void AddShift(RewriteContext context, int type, double[] shift)
    {
        OnnxGraph graph = context.Graph;
        string output = Layer.Output(0)!;
        if (Layer.Is("Gemm"))
        {
            // Y = alpha·ẑ·W′ + [alpha·β·W + beta·C]: the bracket becomes the new C, with beta = 1.
            double alpha = Layer.GetFloat("alpha", 1f);
            double betaAttribute = Layer.GetFloat("beta", 1f);
            double[] c = Layer.Input(2) is { } oldC ? TensorData.ToDoubles(graph.ConstantTensor(oldC)!, context.Model) : [0.0];
            var newC = new double[shift.Length];
            for (int i = 0; i < shift.Length; i++) newC[i] = alpha * shift[i] + betaAttribute * c[c.Length == 1 ? 0 : i];
            string foldedC = graph.UniqueName($"{output}_folded_bias");
            graph.AddInitializer(TensorData.Create(foldedC, type, [shift.Length], newC));
            NodeProto replacement = Layer.Proto.Clone();
            while (replacement.Input.Count < 3) replacement.Input.Add("");
            replacement.Input[2] = foldedC;
            if (replacement.Attribute.FirstOrDefault(a => a.Name == "beta") is { } betaAttr) replacement.Attribute.Remove(betaAttr);
            replacement.Attribute.Add(GraphEdits.Attr("beta", 1f));
            string? oldBias = Layer.Input(2);
            graph.ReplaceNodes([Layer], [replacement]);
            if (oldBias is not null) GraphEdits.RemoveUnusedConstants(graph, [oldBias]);
            return;
        }
        if (DownstreamBias(graph, output, shift.Length, type) is ({ } holder, int index))
        {
            // A frozen bias added further on (the layer's own bias Add, possibly after a LoRA
            // Add, or BiasGelu's bias): β·W joins a copy of it, so no extra Add runs. The values
            // in between drop by β·W and are read only by the next Add of the chain.
            string bias = holder.Inputs[index];
            double[] b = TensorData.ToDoubles(graph.Initializer(bias)!, context.Model);
            for (int i = 0; i < b.Length; i++) b[i] += shift[i];
            string biasName = graph.UniqueName($"{bias}_folded");
            graph.AddInitializer(TensorData.Create(biasName, type, [b.Length], b));
            foreach (OnnxNode reader in graph.Consumers(bias).ToList())
            {
                foreach (int i in IndicesOf(reader, bias).ToList()) reader.SetInput(i, biasName);
            }
            GraphEdits.RemoveUnusedConstants(graph, [bias]);
            return;
        }
        string shiftName = graph.UniqueName($"{output}_affine_shift");
        graph.AddInitializer(TensorData.Create(shiftName, type, [shift.Length], shift));
        string product = graph.UniqueName($"{output}_of_normalized");
        NodeProto layer = Layer.Proto.Clone();
        layer.Output[0] = product;
        graph.ReplaceNodes([Layer], [layer, GraphEdits.Node("Add", "", graph.UniqueName($"{Layer.Label}/AffineShift"), [product, shiftName], [output])]);
    }

    /// <summary>
    /// The node, and its input index, that adds a frozen bias [outputs] to the product: following
    /// up to three Adds each the only reader of the value before it. Besides that node, the bias
    /// and the value it is added to may be read only by gradient nodes that read both
    /// (BiasGeluGrad_dX(dY, X, B) uses X + B, which stays the same).
    /// </summary>
    private static (OnnxNode, int)? DownstreamBias(OnnxGraph graph, string product, long outputs, int type)
    {
        string value = product;
        for (int hop = 0; hop < 3; hop++)
        {
            if (graph.IsGraphOutput(value))
            {
                return null;
            }
            IReadOnlyList<OnnxNode> readers = graph.Consumers(value);
            var adders = readers.Where(r => r.Inputs.Count(i => i == value) == 1
                && ((r.Is("Add") && r.Inputs.Count == 2)
                    || ((r.Is("BiasGelu", "com.microsoft") || (r.Is("FastGelu", "com.microsoft") && r.Inputs.Count == 2)) && r.Input(0) == value))).ToList();
            if (adders is not [{ } next])
            {
                return null;
            }
            int other = next.Input(0) == value ? 1 : 0;
            string candidate = next.Inputs[other];
            // Besides the node that adds the bias, only gradient nodes reading both x and the bias
            // (BiasGeluGrad_dX(dY, x, b) uses x + b, which stays the same) may read x or b.
            bool pairedReaders = readers.All(r => ReferenceEquals(r, next) || r.Inputs.Contains(candidate))
                && graph.Consumers(candidate).All(c => ReferenceEquals(c, next) || c.Inputs.Contains(value));
            if (graph.Initializer(candidate) is { } tensor && !graph.IsGraphInput(candidate) && tensor.DataType == type
                && tensor.Dims.Count == 1 && tensor.Dims[0] == outputs && pairedReaders)
            {
                return (next, other);
            }
            if (readers.Count != 1 || !next.Is("Add") || next.Output(0) is not { } sum)
            {
                return null;
            }
            value = sum;
        }
        return null;
    }

    /// <summary>
    /// The name under which <paramref name="product"/>'s output joins dY: dY itself, or an input
    /// of the Sum that makes dY, reached through Reshape/Identity nodes read by nothing else.
    /// </summary>
    private static string? Contribution(OnnxGraph graph, OnnxNode product, string dY)
    {
        string? value = product.Output(0);
        while (value is not null && value != dY && !graph.IsGraphOutput(value)
            && graph.Consumers(value) is [{ } next] && (next.Is("Reshape") || next.Is("Identity")) && next.Input(0) == value)
        {
            value = next.Output(0);
        }
        if (value is null || graph.IsGraphOutput(value))
        {
            return null;
        }
        if (value == dY)
        {
            return value;
        }
        return graph.Producer(dY) is { } sum && sum.Is("Sum") && sum.Inputs.Contains(value) && graph.Consumers(value).Count == 1 ? value : null;
    }

    private static bool IsMatrixTranspose(OnnxNode transpose) =>
        transpose.GetInts("perm") is not { } perm || (perm.Count == 2 && perm[0] == 1 && perm[1] == 0);

    private static bool IsRowVector(TensorProto tensor, long outputs) =>
        tensor.Dims.Aggregate(1L, (a, d) => a * d) is var n && (n == 1 || (n == outputs && tensor.Dims.Count >= 1 && tensor.Dims[^1] == outputs));

    private static IEnumerable<int> IndicesOf(OnnxNode node, string value) =>
        Enumerable.Range(0, node.Inputs.Count).Where(i => node.Inputs[i] == value);
}
