using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// Runs a small graph of the library's ops in a real ONNX Runtime session (library registered,
/// graph optimisations off) and hands back every output by name.
/// </summary>
public sealed class KernelRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly List<OrtValue> _outputs = [];

    public KernelRunner(TinyModel model, int intraOpThreads = 2)
        : this(model.Build(), intraOpThreads)
    {
    }

    public KernelRunner(ModelProto model, int intraOpThreads = 2)
    {
        _session = OrtRunner.CreateSession(model.ToByteArray(), intraOpThreads: intraOpThreads);
    }

    public InferenceSession Session => _session;

    public IReadOnlyDictionary<string, OrtValue> Run(params (string Name, OrtValue Value)[] inputs)
    {
        try
        {
            string[] outputNames = _session.OutputNames.ToArray();
            using var runOptions = new RunOptions();
            var results = _session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), inputs.Select(i => i.Value).ToArray(), outputNames);
            _outputs.AddRange(results);
            return outputNames.Zip(results).ToDictionary(p => p.First, p => p.Second);
        }
        finally
        {
            foreach (var (_, value) in inputs)
            {
                value.Dispose();
            }
        }
    }

    public void Dispose()
    {
        foreach (OrtValue value in _outputs)
        {
            value.Dispose();
        }
        _session.Dispose();
    }

    public static long[] Shape(OrtValue value) => value.GetTensorTypeAndShape().Shape;

    public static TensorElementType ElementType(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType;

    /// <summary>Model: X -> op -> (Y, Code) -> opGrad(dY, Code) -> dX (both ops carry alpha, table and the other attributes when given).</summary>
    public static TinyModel TwoBitPair(string op, KernelElementType type, long[] shape, float? alpha = null, string? table = null, params AttributeProto[] more)
    {
        var dims = shape.Select(d => (long?)d).ToArray();
        var attributes = new List<AttributeProto>();
        if (alpha is { } a) attributes.Add(TinyModel.Attr("alpha", a));
        if (table is not null) attributes.Add(TinyModel.Attr("table", table));
        attributes.AddRange(more);
        return new TinyModel()
            .Input("X", type.DataType(), dims)
            .Input("dY", type.DataType(), dims)
            .OutputUnshaped("Y", type.DataType())
            .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
            .OutputUnshaped("dX", type.DataType())
            .Node(op, ["X"], ["Y", "Code"], CustomOps.CustomOpLibrary.Domain, [.. attributes])
            .Node(op + "Grad", ["dY", "Code"], ["dX"], CustomOps.CustomOpLibrary.Domain, [.. attributes]);
    }

    /// <summary>Model: X -> op -> (Z, InvStdDev) -> opGrad(dZ, Z, InvStdDev) -> dX.</summary>
    public static TinyModel NormPair(string op, KernelElementType type, long[] shape, long axis, float epsilon)
    {
        var dims = shape.Select(d => (long?)d).ToArray();
        return new TinyModel()
            .Input("X", type.DataType(), dims)
            .Input("dZ", type.DataType(), dims)
            .OutputUnshaped("Z", type.DataType())
            .OutputUnshaped("InvStdDev", TensorProto.Types.DataType.Float)
            .OutputUnshaped("dX", type.DataType())
            .Node(op, ["X"], ["Z", "InvStdDev"], CustomOps.CustomOpLibrary.Domain, TinyModel.Attr("axis", axis), TinyModel.Attr("epsilon", epsilon))
            .Node(op + "Grad", ["dZ", "Z", "InvStdDev"], ["dX"], CustomOps.CustomOpLibrary.Domain, TinyModel.Attr("axis", axis));
    }
}
