using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Rewriter;

/// <summary>
/// Runs a model on ONNX Runtime with seeded random inputs drawn from its declared input types
/// (symbolic dimensions become <see cref="SymbolicSize"/>), and compares two runs' outputs.
/// </summary>
internal static class ModelFeeds
{
    public const int SymbolicSize = 3;

    /// <summary>Random feeds for every graph input that is not an initializer: floats uniform in ±3·scale(name), ints in [0, intBound(name)).</summary>
    public static List<NamedOnnxValue> Random(ModelProto model, int seed, Func<string, int>? intBound = null, Func<string, double>? scale = null)
    {
        var random = new Random(seed);
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var feeds = new List<NamedOnnxValue>();
        foreach (ValueInfoProto input in model.Graph.Input.Where(i => !initializers.Contains(i.Name)))
        {
            var tensorType = input.Type.TensorType;
            int[] dims = tensorType.Shape.Dim.Select(d => d.DimValue > 0 ? (int)d.DimValue : SymbolicSize).ToArray();
            int count = dims.Aggregate(1, (a, b) => a * b);
            switch ((TensorProto.Types.DataType)tensorType.ElemType)
            {
                case TensorProto.Types.DataType.Float:
                    double s = scale?.Invoke(input.Name) ?? 1.0;
                    feeds.Add(NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)(s * (random.NextDouble() * 6 - 3))).ToArray(), dims)));
                    break;
                case TensorProto.Types.DataType.Float16:
                    feeds.Add(NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<Float16>(Enumerable.Range(0, count).Select(_ => (Float16)(float)(random.NextDouble() * 6 - 3)).ToArray(), dims)));
                    break;
                case TensorProto.Types.DataType.Int64:
                    int bound = intBound?.Invoke(input.Name) ?? 2;
                    feeds.Add(NamedOnnxValue.CreateFromTensor(input.Name, new DenseTensor<long>(Enumerable.Range(0, count).Select(_ => (long)random.Next(bound)).ToArray(), dims)));
                    break;
                default:
                    throw new NotSupportedException($"input {input.Name} of type {tensorType.ElemType}");
            }
        }
        return feeds;
    }

    /// <summary>Every output of one run, widened to double, by name.</summary>
    public static Dictionary<string, double[]> Run(byte[] model, IReadOnlyCollection<NamedOnnxValue> feeds)
    {
        using InferenceSession session = OrtRunner.CreateSession(model);
        using var results = session.Run(feeds);
        var outputs = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (DisposableNamedOnnxValue result in results)
        {
            outputs[result.Name] = result.Value switch
            {
                DenseTensor<float> f => f.Buffer.ToArray().Select(v => (double)v).ToArray(),
                DenseTensor<Float16> h => h.Buffer.ToArray().Select(v => (double)(float)v).ToArray(),
                DenseTensor<double> d => d.Buffer.ToArray(),
                _ => throw new NotSupportedException($"output {result.Name}: {result.Value?.GetType().Name}"),
            };
        }
        return outputs;
    }

    /// <summary>Largest |a − b| over an output, relative to the reference's largest magnitude.</summary>
    public static double MaxRelativeDifference(double[] reference, double[] candidate)
    {
        Assert.Equal(reference.Length, candidate.Length);
        double scale = Math.Max(reference.Select(Math.Abs).DefaultIfEmpty(0).Max(), 1e-12);
        double worst = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(reference[i] - candidate[i]) / scale);
        }
        return worst;
    }
}
