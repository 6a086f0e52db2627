using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>A node input: its element type, shape and values (numbers given as double, long or bool).</summary>
internal sealed record Feed(string Name, DataType Type, long[] Shape, Array Values)
{
    /// <summary>An absent optional input: the node gets "" at this position.</summary>
    public static Feed Absent { get; } = new("", DataType.Undefined, [], Array.Empty<double>());

    public static Feed Of(string name, DataType type, long[] shape, double[] values) => new(name, type, shape, values);

    public static Feed Float(string name, long[] shape, double[] values) => new(name, DataType.Float, shape, values);

    public static Feed Int64(string name, long[] shape, long[] values) => new(name, DataType.Int64, shape, values);

    public static Feed Int32(string name, long[] shape, long[] values) => new(name, DataType.Int32, shape, values);

    public static Feed Bool(string name, long[] shape, bool[] values) => new(name, DataType.Bool, shape, values);
}

/// <summary>An output tensor converted to double (bool reads as 0/1).</summary>
internal sealed record Fetched(long[] Shape, double[] Values)
{
    public long[] AsInt64() => Values.Select(v => (long)v).ToArray();
}

/// <summary>
/// Runs one node on stock ONNX Runtime with the project's custom-op library registered: each test
/// states the node, the typed inputs and which outputs it wants, and gets every output back as
/// double for comparison with float64 references.
/// </summary>
internal static class OpHarness
{
    public const string Microsoft = "com.microsoft";

    public static Dictionary<string, Fetched> Run(
        string opType,
        IReadOnlyList<Feed> inputs,
        IReadOnlyList<(string Name, DataType Type)> outputs,
        string domain = Microsoft,
        long defaultOpset = 17,
        params AttributeProto[] attributes) =>
        RunWithThreads(1, opType, inputs, outputs, domain, defaultOpset, attributes);

    /// <summary><see cref="Run"/> on a session with <paramref name="intraOpThreads"/> intra-op
    /// threads, so kernels that split work with KernelContext::ParallelFor really run in parallel.</summary>
    public static Dictionary<string, Fetched> RunWithThreads(
        int intraOpThreads,
        string opType,
        IReadOnlyList<Feed> inputs,
        IReadOnlyList<(string Name, DataType Type)> outputs,
        string domain,
        long defaultOpset,
        params AttributeProto[] attributes)
    {
        var model = new TinyModel().Opset("", defaultOpset);
        foreach (Feed feed in inputs.Where(f => f.Name.Length > 0))
        {
            model.Input(feed.Name, feed.Type, feed.Shape.Select(d => (long?)d).ToArray());
        }
        foreach (var (name, type) in outputs)
        {
            if (name.Length > 0)
            {
                model.OutputUnshaped(name, type);
            }
        }
        model.Node(opType, inputs.Select(f => f.Name).ToArray(), outputs.Select(o => o.Name).ToArray(), domain, attributes);

        using InferenceSession session = OrtRunner.CreateSession(model.ToBytes(), intraOpThreads: intraOpThreads);
        NamedOnnxValue[] feeds = inputs.Where(f => f.Name.Length > 0).Select(ToValue).ToArray();
        using var results = session.Run(feeds);
        return results.ToDictionary(r => r.Name, Fetch);
    }

    /// <summary>Single-output convenience.</summary>
    public static Fetched RunSingle(string opType, IReadOnlyList<Feed> inputs, DataType outputType, string domain = Microsoft, params AttributeProto[] attributes) =>
        Run(opType, inputs, [("out", outputType)], domain, 17, attributes)["out"];

    private static NamedOnnxValue ToValue(Feed feed)
    {
        int[] dims = feed.Shape.Select(d => checked((int)d)).ToArray();
        return feed.Type switch
        {
            DataType.Float => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<float>(Doubles(feed).Select(v => (float)v).ToArray(), dims)),
            DataType.Double => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<double>(Doubles(feed).ToArray(), dims)),
            DataType.Float16 => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<Float16>(Doubles(feed).Select(v => (Float16)(float)v).ToArray(), dims)),
            DataType.Bfloat16 => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<BFloat16>(Doubles(feed).Select(v => (BFloat16)(float)v).ToArray(), dims)),
            DataType.Int64 => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<long>(Longs(feed), dims)),
            DataType.Int32 => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<int>(Longs(feed).Select(v => checked((int)v)).ToArray(), dims)),
            DataType.Uint32 => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<uint>(Longs(feed).Select(v => checked((uint)v)).ToArray(), dims)),
            DataType.Bool => NamedOnnxValue.CreateFromTensor(feed.Name, new DenseTensor<bool>((bool[])feed.Values, dims)),
            _ => throw new NotSupportedException($"feed type {feed.Type}"),
        };
    }

    private static IEnumerable<double> Doubles(Feed feed) => feed.Values switch
    {
        double[] d => d,
        long[] l => l.Select(v => (double)v),
        _ => throw new ArgumentException($"{feed.Name}: expected double[] or long[] values"),
    };

    private static long[] Longs(Feed feed) => feed.Values switch
    {
        long[] l => l,
        _ => throw new ArgumentException($"{feed.Name}: expected long[] values"),
    };

    private static Fetched Fetch(DisposableNamedOnnxValue value) => value.ElementType switch
    {
        TensorElementType.Float => Convert(value.AsTensor<float>(), v => v),
        TensorElementType.Double => Convert(value.AsTensor<double>(), v => v),
        TensorElementType.Float16 => Convert(value.AsTensor<Float16>(), v => (float)v),
        TensorElementType.BFloat16 => Convert(value.AsTensor<BFloat16>(), v => (float)v),
        TensorElementType.Int64 => Convert(value.AsTensor<long>(), v => v),
        TensorElementType.Int32 => Convert(value.AsTensor<int>(), v => v),
        TensorElementType.Bool => Convert(value.AsTensor<bool>(), v => v ? 1.0 : 0.0),
        _ => throw new NotSupportedException($"output type {value.ElementType}"),
    };

    private static Fetched Convert<T>(Tensor<T> tensor, Func<T, double> toDouble)
    {
        long[] shape = tensor.Dimensions.ToArray().Select(d => (long)d).ToArray();
        return new Fetched(shape, tensor.ToArray().Select(toDouble).ToArray());
    }
}
