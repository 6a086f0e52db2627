using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Graph.Shapes;

/// <summary>
/// Ops that move or select data without arithmetic (Reshape, Transpose, Squeeze, Concat, Slice,
/// Gather, ...) and the shape-arithmetic ops (Shape, ConstantOfShape, Range). Axes come from
/// attributes before opset 13 and from constant inputs after, so both are read.
/// </summary>
internal static class LayoutShapes
{
    /// <summary>No real tensor has more dims; a larger claimed rank is treated as unknown.</summary>
    private const int MaxRank = 64;

    public static void Shape(OnnxNode node, ShapeContext context)
    {
        TensorShape? shape = context.ShapeOf(node.Input(0));
        if (shape is null)
        {
            context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, new TensorShape([Dim.Unknown])));
            return;
        }
        int rank = shape.Rank;
        int start = ShapeMath.NormalizeAxis(Math.Clamp(node.GetInt("start", 0), -rank, rank), rank);
        int end = ShapeMath.NormalizeAxis(Math.Clamp(node.GetInt("end", rank), -rank, rank), rank);
        Dim[] dims = shape.Dims.Skip(start).Take(Math.Max(0, end - start)).ToArray();
        context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, TensorShape.Of(dims.Length)));
        context.SetValues(node.Output(0), dims);
    }

    public static void Size(OnnxNode node, ShapeContext context)
    {
        context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, TensorShape.Scalar));
        if (context.ShapeOf(node.Input(0)) is { } shape) context.SetValues(node.Output(0), [ShapeMath.Product(shape.Dims)]);
    }

    public static void Constant(OnnxNode node, ShapeContext context)
    {
        if (node.Attribute("value") is { T: { } tensor })
        {
            context.SetConstant(node.Outputs[0], tensor);
        }
        else if (node.Attribute("value_int") is { } i)
        {
            context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, TensorShape.Scalar));
            context.SetValues(node.Output(0), [Dim.Of(i.I)]);
        }
        else if (node.Attribute("value_ints") is { } ints)
        {
            context.SetType(node.Output(0), new TensorType(ElementTypes.Int64, TensorShape.Of(ints.Ints.Count)));
            context.SetValues(node.Output(0), ints.Ints.Select(Dim.Of).ToArray());
        }
        else if (node.Attribute("value_float") is not null)
        {
            context.SetType(node.Output(0), new TensorType(ElementTypes.Float, TensorShape.Scalar));
        }
        else if (node.Attribute("value_floats") is { } floats)
        {
            context.SetType(node.Output(0), new TensorType(ElementTypes.Float, TensorShape.Of(floats.Floats.Count)));
        }
    }

    public static void ConstantOfShape(OnnxNode node, ShapeContext context)
    {
        int elementType = node.Attribute("value") is { T: { } t } ? t.DataType : ElementTypes.Float;
        Dim[]? dims = context.ValuesOf(node.Input(0));
        context.SetType(node.Output(0), new TensorType(elementType, dims is null ? null : new TensorShape(dims)));
        if (dims is { Length: 1 } && dims[0].Value is { } n && n <= ShapeContext.MaxTrackedElements && elementType == ElementTypes.Int64
            && node.Attribute("value") is { T: { } value })
        {
            long fill = TensorData.ToInt64s(value, context.Graph.Model).FirstOrDefault();
            context.SetValues(node.Output(0), Enumerable.Repeat(Dim.Of(fill), (int)n).ToArray());
        }
    }

    public static void Reshape(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        Dim[]? target = context.ValuesOf(node.Input(1));
        int elementType = context.ElementTypeOf(node.Input(0));
        if (target is null)
        {
            int? rank = context.ShapeOf(node.Input(1)) is { Rank: 1 } s && s.Dims[0].Value is { } r and >= 0 and <= MaxRank ? (int)r : null;
            context.SetType(node.Output(0), new TensorType(elementType, rank is null ? null : new TensorShape(Enumerable.Repeat(Dim.Unknown, rank.Value).ToArray())));
            return;
        }
        bool allowZero = node.GetInt("allowzero", 0) != 0;
        var dims = new Dim[target.Length];
        int inferred = -1;
        for (int i = 0; i < target.Length; i++)
        {
            Dim d = target[i];
            if (d.Value == 0 && !allowZero) dims[i] = input is not null && i < input.Rank ? input.Dims[i] : Dim.Unknown;
            else if (d.Value == -1) { inferred = i; dims[i] = Dim.Unknown; }
            else dims[i] = d;
        }
        if (inferred >= 0 && input?.ElementCount is { } total)
        {
            long known = 1;
            bool allKnown = true;
            for (int i = 0; i < dims.Length; i++)
            {
                if (i == inferred) continue;
                if (dims[i].Value is { } v) known *= v; else allKnown = false;
            }
            if (allKnown && known != 0) dims[inferred] = Dim.Of(total / known);
        }
        else if (inferred >= 0 && input is not null)
        {
            // Symbolic input: cancel matching factors (e.g. [batch, 197, 768] -> [batch, 197, 12, -1]).
            dims[inferred] = SolveSymbolic(input.Dims, dims, inferred);
        }
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
        if (context.ValuesOf(node.Input(0)) is { } values) context.SetValues(node.Output(0), values);
    }

    private static Dim SolveSymbolic(IReadOnlyList<Dim> input, Dim[] output, int inferred)
    {
        var remaining = input.ToList();
        long numerator = 1, denominator = 1;
        for (int i = 0; i < output.Length; i++)
        {
            if (i == inferred) continue;
            int match = remaining.FindIndex(d => d == output[i] && (d.IsKnown || d.Symbol is not null));
            if (match >= 0) { remaining.RemoveAt(match); continue; }
            if (output[i].Value is { } v) denominator *= v; else return Dim.Unknown;
        }
        var symbolic = remaining.Where(d => !d.IsKnown).ToList();
        foreach (Dim d in remaining.Where(d => d.IsKnown)) numerator *= d.Value!.Value;
        if (symbolic.Count == 0) return denominator != 0 ? Dim.Of(numerator / denominator) : Dim.Unknown;
        return symbolic.Count == 1 && numerator == denominator ? symbolic[0] : Dim.Unknown;
    }

    public static void Flatten(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        int elementType = context.ElementTypeOf(node.Input(0));
        if (input is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", 1), input.Rank);
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape([ShapeMath.Product(input.Dims.Take(axis)), ShapeMath.Product(input.Dims.Skip(axis))])));
    }

    public static void Transpose(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        int elementType = context.ElementTypeOf(node.Input(0));
        if (input is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        IReadOnlyList<long> perm = node.GetInts("perm") ?? Enumerable.Range(0, input.Rank).Reverse().Select(i => (long)i).ToArray();
        if (perm.Count != input.Rank) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(perm.Select(p => input.Dims[(int)p]).ToArray())));
    }

    /// <summary>Axes from the "axes" attribute (old opsets) or the constant input at <paramref name="inputIndex"/>.</summary>
    public static long[]? Axes(OnnxNode node, ShapeContext context, int inputIndex) =>
        node.GetInts("axes")?.ToArray() ?? (node.Input(inputIndex) is { } name ? context.KnownValuesOf(name) : null);

    public static void Unsqueeze(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        long[]? axes = Axes(node, context, 1);
        int elementType = context.ElementTypeOf(node.Input(0));
        if (input is null || axes is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        int rank = input.Rank + axes.Length;
        var set = axes.Select(a => ShapeMath.NormalizeAxis(a, rank)).ToHashSet();
        var dims = new Dim[rank];
        int source = 0;
        for (int i = 0; i < rank; i++) dims[i] = set.Contains(i) ? Dim.Of(1) : input.Dims[source++];
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
        if (context.ValuesOf(node.Input(0)) is { } values) context.SetValues(node.Output(0), values);
    }

    public static void Squeeze(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        long[]? axes = Axes(node, context, 1);
        int elementType = context.ElementTypeOf(node.Input(0));
        if (input is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        HashSet<int> drop = axes is null
            ? Enumerable.Range(0, input.Rank).Where(i => input.Dims[i].Value == 1).ToHashSet()
            : axes.Select(a => ShapeMath.NormalizeAxis(a, input.Rank)).ToHashSet();
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(input.Dims.Where((_, i) => !drop.Contains(i)).ToArray())));
        if (context.ValuesOf(node.Input(0)) is { } values) context.SetValues(node.Output(0), values);
    }

    public static void Concat(OnnxNode node, ShapeContext context)
    {
        var shapes = node.Inputs.Where(i => i.Length > 0).Select(context.ShapeOf).ToList();
        int elementType = context.ElementTypeOf(node.Input(0));
        if (shapes.Count == 0 || shapes.Any(s => s is null) || shapes.Select(s => s!.Rank).Distinct().Count() != 1)
        {
            context.SetType(node.Output(0), new TensorType(elementType, null));
            return;
        }
        int rank = shapes[0]!.Rank;
        int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", 0), rank);
        var dims = shapes[0]!.Dims.ToArray();
        dims[axis] = shapes.Select(s => s!.Dims[axis]).Aggregate((a, b) => a.Value is { } x && b.Value is { } y ? Dim.Of(x + y) : Dim.Unknown);
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
        var values = node.Inputs.Where(i => i.Length > 0).Select(context.ValuesOf).ToList();
        if (rank == 1 && values.All(v => v is not null)) context.SetValues(node.Output(0), values.SelectMany(v => v!).ToArray());
    }

    public static void Split(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        int elementType = context.ElementTypeOf(node.Input(0));
        int count = node.Outputs.Count;
        if (input is null)
        {
            foreach (string o in node.Outputs) context.SetType(o, new TensorType(elementType, null));
            return;
        }
        int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", 0), input.Rank);
        long[]? sizes = node.GetInts("split")?.ToArray() ?? (node.Input(1) is { } s ? context.KnownValuesOf(s) : null);
        for (int i = 0; i < count; i++)
        {
            var dims = input.Dims.ToArray();
            if (sizes is not null && i < sizes.Length) dims[axis] = Dim.Of(sizes[i]);
            else if (input.Dims[axis].Value is { } total && total % count == 0) dims[axis] = Dim.Of(total / count);
            else dims[axis] = Dim.Unknown;
            context.SetType(node.Outputs[i], new TensorType(elementType, new TensorShape(dims)));
        }
    }

    public static void Slice(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        int elementType = context.ElementTypeOf(node.Input(0));
        if (input is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        long[]? starts = node.GetInts("starts")?.ToArray() ?? context.KnownValuesOf(node.Input(1));
        long[]? ends = node.GetInts("ends")?.ToArray() ?? context.KnownValuesOf(node.Input(2));
        long[]? axes = node.GetInts("axes")?.ToArray() ?? (node.Input(3) is { } a ? context.KnownValuesOf(a) : null);
        long[]? steps = node.Input(4) is { } st ? context.KnownValuesOf(st) : null;
        var dims = input.Dims.ToArray();
        if (starts is null || ends is null || (node.Input(3) is not null && axes is null) || (node.Input(4) is not null && steps is null))
        {
            // Which axes are sliced is unknown: only the rank survives.
            IEnumerable<long> touched = axes ?? Enumerable.Range(0, input.Rank).Select(i => (long)i);
            foreach (long ax in touched) dims[ShapeMath.NormalizeAxis(ax, input.Rank)] = Dim.Unknown;
            context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
            return;
        }
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        for (int i = 0; i < axes.Length && i < starts.Length && i < ends.Length; i++)
        {
            int axis = ShapeMath.NormalizeAxis(axes[i], input.Rank);
            long step = steps is not null && i < steps.Length ? steps[i] : 1;
            dims[axis] = input.Dims[axis].Value is { } size ? Dim.Of(SliceLength(size, starts[i], ends[i], step)) : Dim.Unknown;
        }
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
        if (input.Rank == 1 && context.ValuesOf(node.Input(0)) is { } values && axes.Length == 1)
        {
            long step = steps?.FirstOrDefault() ?? 1;
            if (step == 1)
            {
                long n = values.Length;
                long s0 = Math.Clamp(starts[0] < 0 ? starts[0] + n : starts[0], 0, n);
                long e0 = Math.Clamp(ends[0] < 0 ? ends[0] + n : ends[0], 0, n);
                context.SetValues(node.Output(0), values.Skip((int)s0).Take((int)Math.Max(0, e0 - s0)).ToArray());
            }
        }
    }

    private static long SliceLength(long size, long start, long end, long step)
    {
        if (step == 0) return 0;
        if (start < 0) start += size;
        if (end < 0) end += size;
        if (step > 0)
        {
            start = Math.Clamp(start, 0, size);
            end = Math.Clamp(end, 0, size);
            return end > start ? (end - start + step - 1) / step : 0;
        }
        start = Math.Clamp(start, -1, size - 1);
        end = Math.Clamp(end, -1, size - 1);
        return start > end ? (start - end - step - 1) / -step : 0;
    }

    public static void Gather(OnnxNode node, ShapeContext context)
    {
        TensorShape? data = context.ShapeOf(node.Input(0)), indices = context.ShapeOf(node.Input(1));
        int elementType = context.ElementTypeOf(node.Input(0));
        if (data is null || indices is null) { context.SetType(node.Output(0), new TensorType(elementType, null)); return; }
        int axis = ShapeMath.NormalizeAxis(node.GetInt("axis", 0), data.Rank);
        var dims = data.Dims.Take(axis).Concat(indices.Dims).Concat(data.Dims.Skip(axis + 1)).ToArray();
        context.SetType(node.Output(0), new TensorType(elementType, new TensorShape(dims)));
        if (data.Rank == 1 && context.ValuesOf(node.Input(0)) is { } values && context.KnownValuesOf(node.Input(1)) is { } picks)
        {
            var picked = picks.Select(p => p < 0 ? p + values.Length : p).Where(p => p >= 0 && p < values.Length).Select(p => values[p]).ToArray();
            if (picked.Length == picks.Length) context.SetValues(node.Output(0), picked);
        }
    }

    public static void Expand(OnnxNode node, ShapeContext context)
    {
        Dim[]? target = context.ValuesOf(node.Input(1));
        int elementType = context.ElementTypeOf(node.Input(0));
        TensorShape? input = context.ShapeOf(node.Input(0));
        // Sizes computed at run time: the rank is still the longer of the input's and the shape
        // tensor's, and an input dim other than 1 survives the broadcast whatever the target says.
        if (target is null && input is not null && context.ShapeOf(node.Input(1)) is { Rank: 1 } s && s.Dims[0].Value is { } length and >= 0 and <= MaxRank)
        {
            target = Enumerable.Repeat(Dim.Unknown, (int)length).ToArray();
        }
        TensorShape? shape = target is null ? null : ShapeMath.Broadcast([input, new TensorShape(target)]);
        context.SetType(node.Output(0), new TensorType(elementType, shape));
    }

    public static void Tile(OnnxNode node, ShapeContext context)
    {
        TensorShape? input = context.ShapeOf(node.Input(0));
        long[]? repeats = context.KnownValuesOf(node.Input(1));
        int elementType = context.ElementTypeOf(node.Input(0));
        TensorShape? shape = input is not null && repeats is not null && repeats.Length == input.Rank
            ? new TensorShape(input.Dims.Select((d, i) => ShapeMath.Multiply(d, Dim.Of(repeats[i]))).ToArray())
            : null;
        context.SetType(node.Output(0), new TensorType(elementType, shape));
    }

    public static void Range(OnnxNode node, ShapeContext context)
    {
        long[]? start = context.KnownValuesOf(node.Input(0)), limit = context.KnownValuesOf(node.Input(1)), delta = context.KnownValuesOf(node.Input(2));
        Dim length = start is [var s] && limit is [var l] && delta is [var d] && d != 0 ? Dim.Of(Math.Max(0, (l - s + d - Math.Sign(d)) / d)) : Dim.Unknown;
        context.SetType(node.Output(0), new TensorType(context.ElementTypeOf(node.Input(0)), new TensorShape([length])));
    }
}
