using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// Weight gradients that read a norm's output y = γ⊙ẑ + β, rewritten to read ẑ instead. A weight
/// gradient contracts over rows: yᵀ·dH = diag(γ)·(ẑᵀ·dH) + β ⊗ Σ_rows dH, so backward needs only
/// ẑ (which it keeps anyway), dH and [k, n]-sized terms; nothing of y's size is recomputed. (A
/// recomputed y is a full-size value that ONNX Runtime's default order may emit early in forward
/// and keep alive through the whole step.) Recognised, as ONNX Runtime's and this project's
/// gradient builders write a linear layer's weight gradient: Gemm(y₂, dH₂, transA=1) and
/// Gemm(dH₂, y₂, transA=1) with y₂ = y or a Reshape of y to [rows, k], and
/// MatMul(Transpose(y), dH) with the Transpose swapping the last two axes.
/// </summary>
internal static class NormalizedWeightGradient
{
    /// <summary>
    /// How y (or a view of it) enters a weight-gradient product: the product's axis that runs over
    /// k (−2 or −1), the other operand (dH, or a view of it) and that operand's row axis (−2 or −1).
    /// </summary>
    private sealed record Role(OnnxNode Product, int KAxis, string Other, int OtherRowAxis);

    /// <summary>
    /// Rewrites every backward reader of y it recognises (Shape readers read ẑ's shape instead) and
    /// returns the readers it left reading y, with the names of the Gemms it rewrote.
    /// </summary>
    public static (IReadOnlyList<OnnxNode> Left, IReadOnlyList<string> Rewritten) Rewrite(RewriteContext context, NormAffine affine)
    {
        OnnxGraph graph = context.Graph;
        var phases = TrainingPhases.Classify(graph);
        var left = new List<OnnxNode>();
        var rewritten = new List<string>();
        foreach (OnnxNode reader in phases.BackwardReaders(affine.Output).ToList())
        {
            if (reader.Is("Shape"))
            {
                Redirect(reader, affine.Output, affine.Normalized);
                continue;
            }
            List<Role>? roles = RowView(context, reader, affine) is not { } view ? null
                : reader.Is("Gemm") ? GemmRole(reader, view) is { } direct ? [direct] : null
                : Roles(graph, view, reader.Is("Transpose") ? MatMulRole : GemmRole);
            if (roles is null)
            {
                left.Add(reader);
                continue;
            }
            Redirect(reader, affine.Output, affine.Normalized);
            foreach (Role role in roles)
            {
                rewritten.Add(role.Product.Label);
                Correct(context, affine, role);
            }
        }
        return (left, rewritten);
    }

    /// <summary>
    /// For backward readers of y that <see cref="Rewrite"/> left: γ⊙ẑ+β recomputed just before the
    /// first of them (full size, so only a fallback for layouts not recognised).
    /// </summary>
    public static void Recompute(RewriteContext context, NormAffine affine, IReadOnlyList<OnnxNode> readers)
    {
        OnnxGraph graph = context.Graph;
        string recomputed = graph.UniqueName($"{affine.Output}_recomputed");
        var nodes = graph.Nodes.ToList();
        OnnxNode first = readers.OrderBy(r => nodes.IndexOf(r)).First();
        graph.InsertNodesBefore(first, affine.Apply(recomputed, $"{affine.Scope}/RecomputeAffine"));
        foreach (OnnxNode reader in readers)
        {
            Redirect(reader, affine.Output, recomputed);
        }
    }

    /// <summary>
    /// The view of y the reader makes for a weight gradient: y itself (2-D) for a Gemm, a Reshape
    /// to [rows, k], a Transpose that swaps the last two axes; else null.
    /// </summary>
    private static string? RowView(RewriteContext context, OnnxNode reader, NormAffine affine)
    {
        string y = affine.Output;
        if (affine.Width is not { } k || context.TypeOf(y)?.Shape is not { } shape || shape.Dims[^1].Value != k
            || reader.Inputs.Count(i => i == y) != 1 || reader.Output(0) is not { } view || context.Graph.IsGraphOutput(view))
        {
            return null;
        }
        if (reader.Is("Gemm"))
        {
            return shape.Rank == 2 ? y : null;
        }
        if (reader.Input(0) != y)
        {
            return null;
        }
        if (reader.Is("Reshape") && context.TypeOf(view)?.Shape is { Rank: 2 } viewShape && viewShape.Dims[1].Value == k)
        {
            // The row view keeps the last axis whole, so each of its rows is one normalised row.
            return view;
        }
        if (reader.Is("Transpose") && shape.Rank >= 2 && reader.GetInts("perm") is { } perm && perm.Count == shape.Rank
            && Enumerable.Range(0, shape.Rank - 2).All(i => perm[i] == i) && perm[^2] == shape.Rank - 1 && perm[^1] == shape.Rank - 2)
        {
            return view;
        }
        return null;
    }

    /// <summary>Every reader of <paramref name="view"/> in its weight-gradient role, or null if any has none.</summary>
    private static List<Role>? Roles(OnnxGraph graph, string view, Func<OnnxNode, string, Role?> roleOf)
    {
        var roles = new List<Role>();
        foreach (OnnxNode reader in graph.Consumers(view))
        {
            if (roleOf(reader, view) is not { } role)
            {
                return null;
            }
            roles.Add(role);
        }
        return roles.Count > 0 ? roles : null;
    }

    private static Role? GemmRole(OnnxNode gemm, string view)
    {
        if (!gemm.Is("Gemm") || gemm.Input(2) is not null || gemm.Output(0) is null)
        {
            return null;
        }
        bool isA = gemm.Input(0) == view;
        bool isB = gemm.Input(1) == view;
        long transA = gemm.GetInt("transA", 0);
        long transB = gemm.GetInt("transB", 0);
        if (isA && !isB && transA == 1)
        {
            // op(A) = yᵀ [k, rows]: the product is [k, n]; op(B) = dH [rows, n].
            return new Role(gemm, -2, gemm.Input(1)!, transB == 0 ? -2 : -1);
        }
        if (isB && !isA && transB == 0)
        {
            // op(B) = y [rows, k]: the product is [n, k]; op(A) = dHᵀ [n, rows].
            return new Role(gemm, -1, gemm.Input(0)!, transA == 1 ? -2 : -1);
        }
        return null;
    }

    /// <summary>MatMul(yᵀ, dH): yᵀ [.., k, rows] times dH [.., rows, n] is [.., k, n].</summary>
    private static Role? MatMulRole(OnnxNode matMul, string view) =>
        matMul.Is("MatMul") && matMul.Input(0) == view && matMul.Input(1) is { } other && other != view && matMul.Output(0) is not null
            ? new Role(matMul, -2, other, -2)
            : null;

    /// <summary>
    /// The product now multiplies ẑ: P becomes P⊙γ (γ along the k axis) plus, with β,
    /// alpha·β ⊗ Σ_rows dH (alpha of a Gemm, else 1).
    /// </summary>
    private static void Correct(RewriteContext context, NormAffine affine, Role role)
    {
        OnnxGraph graph = context.Graph;
        string output = role.Product.Output(0)!;
        string scope = $"{affine.Scope}/WeightGradFromNormalized";
        var nodes = new List<NodeProto>();
        NodeProto product = role.Product.Proto.Clone();
        string normalizedProduct = graph.UniqueName($"{output}_of_normalized");
        product.Output[0] = normalizedProduct;
        nodes.Add(product);
        string scale = affine.AlongAxis(affine.Scale, role.KAxis, nodes);
        if (affine.Bias is null)
        {
            nodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/Scale"), [normalizedProduct, scale], [output]));
            graph.ReplaceNodes([role.Product], nodes);
            return;
        }
        string scaled = graph.UniqueName($"{output}_scaled");
        nodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/Scale"), [normalizedProduct, scale], [scaled]));
        // Σ over the rows of dH, axes kept, so that n sits on the product's other axis.
        string rowSum = graph.UniqueName($"{output}_row_sum");
        nodes.Add(MemoryRuleSupport.ReduceSum(context, role.Other, [role.OtherRowAxis], keepDims: true, rowSum, $"{scope}/RowSum"));
        if (role.OtherRowAxis != role.KAxis)
        {
            string transposed = graph.UniqueName($"{rowSum}_transposed");
            var transpose = GraphEdits.Node("Transpose", "", graph.UniqueName($"{scope}/RowSumLayout"), [rowSum], [transposed]);
            var perm = new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints };
            // Only a 2-D Gemm gets here: dH's row axis is not the product's k axis.
            perm.Ints.AddRange([1L, 0L]);
            transpose.Attribute.Add(perm);
            nodes.Add(transpose);
            rowSum = transposed;
        }
        string bias = affine.AlongAxis(affine.Bias, role.KAxis, nodes);
        string shift = graph.UniqueName($"{output}_shift");
        nodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/Shift"), [rowSum, bias], [shift]));
        float alpha = role.Product.Is("Gemm") ? role.Product.GetFloat("alpha", 1f) : 1f;
        if (alpha != 1f)
        {
            string alphaValue = graph.UniqueName($"{scope}/alpha");
            int type = context.TypeOf(output)?.ElementType ?? ElementTypes.Float;
            graph.AddInitializer(TensorData.Create(alphaValue, type, [], [alpha]));
            string scaledShift = graph.UniqueName($"{shift}_alpha");
            nodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/ShiftAlpha"), [shift, alphaValue], [scaledShift]));
            shift = scaledShift;
        }
        nodes.Add(GraphEdits.Node("Add", "", graph.UniqueName($"{scope}/Add"), [scaled, shift], [output]));
        graph.ReplaceNodes([role.Product], nodes);
    }

    private static void Redirect(OnnxNode reader, string from, string to)
    {
        for (int i = 0; i < reader.Inputs.Count; i++)
        {
            if (reader.Inputs[i] == from) reader.SetInput(i, to);
        }
    }
}
