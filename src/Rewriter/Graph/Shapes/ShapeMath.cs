namespace OnnxMemOpt.Graph.Shapes;

/// <summary>Small helpers shared by the shape rules: broadcasting, axis normalisation, dim arithmetic.</summary>
public static class ShapeMath
{
    /// <summary>Numpy-style broadcast of several shapes; null if any rank is unknown.</summary>
    public static TensorShape? Broadcast(IEnumerable<TensorShape?> shapes)
    {
        var list = shapes.ToList();
        if (list.Count == 0 || list.Any(s => s is null)) return null;
        int rank = list.Max(s => s!.Rank);
        var result = new Dim[rank];
        for (int i = 0; i < rank; i++)
        {
            Dim dim = Dim.Of(1);
            foreach (TensorShape shape in list!)
            {
                int j = i - (rank - shape.Rank);
                if (j < 0) continue;
                Dim d = shape.Dims[j];
                if (d.Value == 1) continue;
                if (dim.Value == 1) dim = d;
                else if (!dim.IsKnown && d.IsKnown) dim = d;
                else if (!dim.IsKnown && !d.IsKnown && dim.Symbol != d.Symbol) dim = dim.Symbol is null ? d : dim;
            }
            result[i] = dim;
        }
        return new TensorShape(result);
    }

    /// <summary>
    /// Maps a negative ONNX axis (counted from the end) to its index in a shape of
    /// <paramref name="rank"/>; the result is not range-checked.
    /// </summary>
    public static int NormalizeAxis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    /// <summary>
    /// Product of two dims: known when both are known and it fits in 64 bits, the other dim when one is
    /// 1, else unknown.
    /// </summary>
    public static Dim Multiply(Dim a, Dim b)
    {
        if (a.Value is { } x && b.Value is { } y)
        {
            // A product past 64 bits (a hostile dim) is simply unknown.
            return Math.Abs(x) <= 1 || Math.Abs(y) <= long.MaxValue / Math.Abs(x) ? Dim.Of(x * y) : Dim.Unknown;
        }
        return a.Value == 1 ? b : b.Value == 1 ? a : Dim.Unknown;
    }

    /// <summary>Product of all <paramref name="dims"/> by <see cref="Multiply"/>; 1 for none.</summary>
    public static Dim Product(IEnumerable<Dim> dims) => dims.Aggregate(Dim.Of(1), Multiply);

    /// <summary>Applies an integer binary op to two tracked value lists with broadcasting of scalars.</summary>
    public static Dim[]? Elementwise(Dim[]? a, Dim[]? b, Func<long, long, long> op) =>
        Elementwise(a, b, (x, y) =>
        {
            try
            {
                return x.Value is { } u && y.Value is { } v ? Dim.Of(checked(op(u, v))) : Dim.Unknown;
            }
            catch (OverflowException)
            {
                return Dim.Unknown;
            }
        });

    /// <summary>Applies a binary op on dims (known or symbolic) to two tracked value lists with broadcasting of scalars.</summary>
    public static Dim[]? Elementwise(Dim[]? a, Dim[]? b, Func<Dim, Dim, Dim> op)
    {
        if (a is null || b is null) return null;
        int n = Math.Max(a.Length, b.Length);
        if (a.Length != n && a.Length != 1 || b.Length != n && b.Length != 1) return null;
        var result = new Dim[n];
        for (int i = 0; i < n; i++)
        {
            result[i] = op(a[a.Length == 1 ? 0 : i], b[b.Length == 1 ? 0 : i]);
        }
        return result;
    }
}
