using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Bench;

/// <summary>
/// Throughput of the library's CPU training kernels on a [2048, 1024] float tensor, against
/// ONNX Runtime's own Gelu forward on the same tensor as a yardstick, on 1 and 2 intra-op
/// threads (the kernels split work with KernelContext::ParallelFor).
/// </summary>
[MemoryDiagnoser]
public class TrainingOpBenchmarks
{
    private const int Rows = 2048;
    private const int Width = 1024;

    private InferenceSession? _session;
    private NamedOnnxValue[] _inputs = [];

    [Params("Gelu (stock forward)", "GeluGrad", "LayerNormalizationGrad", "SoftmaxGrad_13")]
    public string Op { get; set; } = "GeluGrad";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        DenseTensor<float> Tensor(params int[] dims)
        {
            int count = dims.Aggregate(1, (a, b) => a * b);
            return new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), dims);
        }

        (string Name, int[] Dims)[] inputs = Op switch
        {
            "Gelu (stock forward)" => [("x", [Rows, Width])],
            "LayerNormalizationGrad" => [("dy", [Rows, Width]), ("x", [Rows, Width]), ("scale", [Width]), ("mean", [Rows, 1]), ("inv", [Rows, 1])],
            _ => [("dy", [Rows, Width]), ("x", [Rows, Width])],
        };
        string[] outputs = Op == "LayerNormalizationGrad" ? ["dx", "dscale", "dbias"] : ["dx"];
        string opType = Op == "Gelu (stock forward)" ? "Gelu" : Op;

        var graph = new GraphProto { Name = "bench" };
        var node = new NodeProto { OpType = opType, Domain = "com.microsoft" };
        node.Input.AddRange(inputs.Select(i => i.Name));
        node.Output.AddRange(outputs);
        graph.Node.Add(node);
        foreach (var (name, dims) in inputs)
        {
            graph.Input.Add(FloatValue(name, dims));
        }
        foreach (string name in outputs)
        {
            graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });

        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        options.IntraOpNumThreads = Threads;
        _session = new InferenceSession(model.ToByteArray(), options);
        _inputs = inputs.Select(i => NamedOnnxValue.CreateFromTensor(i.Name, Tensor(i.Dims))).ToArray();
        if (Op == "LayerNormalizationGrad")
        {
            // Plausible statistics: inv_std positive.
            var inv = (DenseTensor<float>)_inputs[4].AsTensor<float>();
            for (int r = 0; r < Rows; r++)
            {
                inv[r, 0] = 1.5f;
            }
        }
    }

    [Benchmark]
    public int Run()
    {
        using var results = _session!.Run(_inputs);
        return results.Count;
    }

    [GlobalCleanup]
    public void Cleanup() => _session?.Dispose();

    private static ValueInfoProto FloatValue(string name, int[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
