using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Graph.Shapes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Runtime.Verification;

/// <summary>
/// Dropout masks drawn once and then held fixed, for gradcheck. A Dropout in training mode (what a
/// training-mode export and its training graph carry) draws a new mask on every run, even with a
/// fixed seed (the generator advances), so a finite difference of the loss would measure the
/// masks' change, not the parameter's. The masks are captured from one run of the graph; the graph
/// checked then reads them from an input instead, y = x ⊙ mask / (1 − ratio), the value Dropout
/// computes with that mask, while its DropoutGrad reads the same mask as before. The capture run seeds
/// every Dropout by its node name (RandomOps), so the masks, and so the figures, repeat from run to
/// run. (verify runs each graph once, so a fixed seed is enough there.) Dropouts are matched by their output
/// name, which the rewrite passes never change.
/// </summary>
internal sealed class FrozenDropout
{
    private readonly Dictionary<string, Mask> _masks;

    private FrozenDropout(Dictionary<string, Mask> masks) => _masks = masks;

    /// <summary>One captured mask, keyed by the Dropout's data output.</summary>
    private sealed record Mask(string Input, int[] Dims, bool[] Values);

    /// <summary>The mask inputs every frozen graph reads.</summary>
    public IReadOnlyList<NamedOnnxValue> Feeds =>
        _masks.Values.Select(m => NamedOnnxValue.CreateFromTensor(m.Input, new DenseTensor<bool>(m.Values, m.Dims))).ToList();

    /// <summary>Null when the graph has no Dropout in training mode; else its masks from one run on <paramref name="feeds"/>.</summary>
    public static FrozenDropout? Capture(OnnxModel model, IReadOnlyCollection<NamedOnnxValue> feeds)
    {
        var dropouts = model.Graph.Nodes.Where(DropoutMode.IsTraining).ToList();
        if (dropouts.Count == 0) return null;
        OnnxModel copy = OnnxModel.FromProto(model.Proto.Clone(), model.FileName, model.BaseDirectory, model.Limits);
        // Unseeded, ONNX Runtime draws from the clock: every process would check the gradient at
        // other masks, so a figure measured once could not be reproduced (CI saw 1e-4 where a
        // local run saw 3e-7). Seeds from the node names make the masks a function of the graph.
        RandomOps.MakeDeterministic(copy.Proto, RandomOpPolicy.FixedSeed);
        var maskOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (OnnxNode node in copy.Graph.Nodes.Where(DropoutMode.IsTraining).ToList())
        {
            string mask = node.Output(1) ?? AddMaskOutput(copy.Graph, node);
            maskOf[mask] = node.Outputs[0];
            copy.Graph.Proto.Output.Add(new ValueInfoProto
            {
                Name = mask,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = ElementTypes.Bool } },
            });
        }
        var masks = new Dictionary<string, Mask>(StringComparer.Ordinal);
        try
        {
            using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
            options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
            options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            using var session = new InferenceSession(copy.ToBytes(), options);
            var wanted = feeds.Where(f => session.InputMetadata.ContainsKey(f.Name)).ToList();
            using var results = session.Run(wanted, maskOf.Keys.ToList());
            foreach (DisposableNamedOnnxValue result in results)
            {
                var tensor = (DenseTensor<bool>)result.Value;
                string y = maskOf[result.Name];
                masks[y] = new Mask(model.Graph.UniqueName(y + "_frozen_mask"), tensor.Dimensions.ToArray(), tensor.Buffer.ToArray());
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnsupportedModelException(model.FileName, $"ONNX Runtime cannot run it: {e.Message}", inner: e);
        }
        return new FrozenDropout(masks);
    }

    /// <summary>A copy of <paramref name="model"/> whose training-mode Dropouts read the captured masks.</summary>
    public OnnxModel Apply(OnnxModel model)
    {
        OnnxModel copy = OnnxModel.FromProto(model.Proto.Clone(), model.FileName, model.BaseDirectory, model.Limits);
        OnnxGraph graph = copy.Graph;
        IReadOnlyDictionary<string, TensorType> types = ShapeInference.Infer(graph);
        foreach (OnnxNode node in graph.Nodes.Where(DropoutMode.IsTraining).ToList())
        {
            string y = node.Outputs[0];
            if (!_masks.TryGetValue(y, out Mask? mask))
            {
                throw new UnsupportedModelException(model.FileName, $"its Dropout {node.Label} has no counterpart in the original graph, so its mask cannot be held fixed");
            }
            int type = types.GetValueOrDefault(node.Inputs[0])?.ElementType ?? ElementTypes.Float;
            double ratio = node.Input(1) is { Length: > 0 } r
                ? graph.ConstantTensor(r) is { } t ? TensorData.ToDoubles(t, copy)[0] : throw new UnsupportedModelException(model.FileName, $"the ratio of {node.Label} is computed at run time")
                : 0.5;
            graph.Proto.Input.Add(new ValueInfoProto
            {
                Name = mask.Input,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = ElementTypes.Bool, Shape = ShapeOf(mask.Dims) } },
            });
            string scope = $"{node.Label}/Frozen";
            string maskValue = node.Output(1) ?? graph.UniqueName($"{scope}/mask");
            string keep = graph.UniqueName($"{scope}/keep"), kept = graph.UniqueName($"{scope}/kept");
            string scale = graph.UniqueName($"{scope}/scale");
            graph.AddInitializer(TensorData.Create(scale, type, [], [ratio < 1 ? 1 / (1 - ratio) : 0]));
            graph.ReplaceNodes([node],
            [
                GraphEdits.Node("Identity", "", graph.UniqueName($"{scope}/Mask"), [mask.Input], [maskValue]),
                GraphEdits.Node("Cast", "", graph.UniqueName($"{scope}/Cast"), [maskValue], [keep], GraphEdits.Attr("to", (long)type)),
                GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/Keep"), [node.Inputs[0], keep], [kept]),
                GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/Scale"), [kept, scale], [y]),
            ]);
        }
        return copy;
    }

    private static string AddMaskOutput(OnnxGraph graph, OnnxNode node)
    {
        string mask = graph.UniqueName(node.Outputs[0] + "_mask");
        // Only the serialised copy runs, so the proto alone needs the new output.
        if (node.Proto.Output.Count > 1) node.Proto.Output[1] = mask; else node.Proto.Output.Add(mask);
        return mask;
    }

    private static TensorShapeProto ShapeOf(int[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (int d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return shape;
    }
}
