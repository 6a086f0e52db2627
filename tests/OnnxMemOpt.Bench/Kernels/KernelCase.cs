using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Bench.Kernels;

/// <summary>
/// One float32 op on N elements in an ONNX Runtime session with the custom-op library
/// registered, intra-op threads = all cores. Inputs and outputs are allocated once and bound to
/// every run, so a run measures the kernel (plus ONNX Runtime's fixed per-run overhead), not
/// allocation or page faults.
/// </summary>
public sealed class KernelCase : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly OrtValue[] _inputs;
    private readonly string[] _outputNames;
    private readonly OrtValue[] _outputs;

    private KernelCase(KernelSpec spec, long elements, int threads)
    {
        Spec = spec;
        Elements = elements;
        using var options = CustomOpLibrary.CreateSessionOptions();
        options.IntraOpNumThreads = threads;
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        _session = new InferenceSession(spec.BuildModel().ToByteArray(), options);
        long[] shape = spec.Shape(elements);
        _inputNames = spec.Inputs.Select(i => i.Name).ToArray();
        _inputs = spec.Inputs.Select(i => i.Create(shape, elements)).ToArray();
        _outputNames = spec.Outputs.Select(o => o.Name).ToArray();
        _outputs = spec.Outputs.Select(o => o.Create(shape, elements)).ToArray();
    }

    public KernelSpec Spec { get; }

    public long Elements { get; }

    /// <summary>Bytes the op must read and write once each (the figure GB/s is computed from).</summary>
    public double BytesMoved => Spec.BytesMoved(Elements);

    public static KernelCase Create(KernelSpec spec, long elements, int threads)
    {
        // The kernel's inputs: when the op consumes what another op produces (codes, Z, rstd),
        // run that producer once to get realistic values.
        var kernel = new KernelCase(spec, elements, threads);
        if (spec.Producer is { } producer)
        {
            using var source = new KernelCase(producer, elements, threads);
            source.Run();
            foreach (var (from, to) in spec.ProducerFeeds)
            {
                CopyTensor(source.Output(from), kernel.Input(to));
            }
        }
        return kernel;
    }

    public void Run() => _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

    private static void CopyTensor(OrtValue from, OrtValue to)
    {
        if (from.GetTensorTypeAndShape().ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8)
        {
            from.GetTensorDataAsSpan<byte>().CopyTo(to.GetTensorMutableDataAsSpan<byte>());
        }
        else
        {
            from.GetTensorDataAsSpan<float>().CopyTo(to.GetTensorMutableDataAsSpan<float>());
        }
    }

    private OrtValue Input(string name) => _inputs[Array.IndexOf(_inputNames, name)];

    private OrtValue Output(string name) => _outputs[Array.IndexOf(_outputNames, name)];

    public void Dispose()
    {
        foreach (OrtValue value in _inputs.Concat(_outputs))
        {
            value.Dispose();
        }
        _runOptions.Dispose();
        _session.Dispose();
    }
}

/// <summary>A tensor the case binds: float32 [N] or [N/768, 768], uint8 codes, or float32 per-row statistics.</summary>
public sealed record TensorSpec(string Name, TensorSpec.Kind Type)
{
    public enum Kind
    {
        Data,
        Codes,
        RowStatistic,
    }

    public OrtValue Create(long[] shape, long elements)
    {
        switch (Type)
        {
            case Kind.Codes:
                return OrtValue.CreateTensorValueFromMemory(new byte[(elements + 3) / 4], [(elements + 3) / 4]);
            case Kind.RowStatistic:
                long[] statShape = shape.ToArray();
                statShape[^1] = 1;
                var stats = new float[elements / shape[^1]];
                Array.Fill(stats, 1.0f);
                return OrtValue.CreateTensorValueFromMemory(stats, statShape);
            default:
                var data = new float[elements];
                // A stable seed per tensor name (string.GetHashCode is randomised per process).
                var random = new Random(Name.Aggregate(17, (hash, c) => unchecked((hash * 31) + c)));
                for (long i = 0; i < elements; i++)
                {
                    data[i] = (float)(4.0 * random.NextDouble() - 2.0);
                }
                return OrtValue.CreateTensorValueFromMemory(data, shape);
        }
    }
}

/// <summary>What to run: one node, its bound tensors, and how many bytes it moves per element.</summary>
public sealed record KernelSpec(
    string Name,
    string OpType,
    string Domain,
    bool RowShaped,
    TensorSpec[] Inputs,
    TensorSpec[] Outputs,
    double BytesPerElement,
    double BytesPerRow = 0,
    KernelSpec? Producer = null,
    (string From, string To)[]? ProducerFeedList = null)
{
    /// <summary>Row length for the norms (hidden size of BERT-base / ViT-B).</summary>
    public const long RowLength = 768;

    public (string From, string To)[] ProducerFeeds => ProducerFeedList ?? [];

    /// <summary>Bytes the op must read and write once each for N elements.</summary>
    public double BytesMoved(long elements) => BytesPerElement * elements + BytesPerRow * elements / (double)RowLength;

    public long[] Shape(long elements) => RowShaped ? [elements / RowLength, RowLength] : [elements];

    public ModelProto BuildModel()
    {
        var graph = new GraphProto { Name = Name };
        var node = new NodeProto { OpType = OpType, Domain = Domain, Name = Name };
        foreach (TensorSpec input in Inputs)
        {
            node.Input.Add(input.Name);
            graph.Input.Add(ValueInfo(input));
        }
        foreach (TensorSpec output in Outputs)
        {
            node.Output.Add(output.Name);
            graph.Output.Add(ValueInfo(output));
        }
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, ProducerName = "OnnxMemOpt.Bench", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = CustomOpLibrary.Domain, Version = 1 });
        return model;
    }

    private static ValueInfoProto ValueInfo(TensorSpec tensor) => new()
    {
        Name = tensor.Name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)(tensor.Type == TensorSpec.Kind.Codes ? TensorProto.Types.DataType.Uint8 : TensorProto.Types.DataType.Float),
            },
        },
    };
}
