using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Samples;

/// <summary>
/// samples/CustomOpsOnly runs a checked-in model (it references no OnnxMemOpt package that could
/// build one). This test owns that file: it builds the graph, checks the checked-in copy is exactly
/// it (ONNXMEMOPT_UPDATE_FIXTURES=1 rewrites it), and that it runs here as the sample expects.
/// </summary>
public class SampleModelTests
{
    private static string CheckedInPath => Path.Combine(SharedTestData.RepoRoot, "samples", "CustomOpsOnly", "regelu2.onnx");

    /// <summary>ReGelu2(X) → Y, Code and ReGelu2Grad(dY, Code) → dX over a vector of any length.</summary>
    public static byte[] BuildReGelu2Sample() => new TinyModel()
        .Opset("", 17).Opset(CustomOpLibrary.Domain, 1)
        .Input("X", TensorProto.Types.DataType.Float, [null])
        .Input("dY", TensorProto.Types.DataType.Float, [null])
        .Output("Y", TensorProto.Types.DataType.Float, [null])
        .OutputUnshaped("Code", TensorProto.Types.DataType.Uint8)
        .Output("dX", TensorProto.Types.DataType.Float, [null])
        .Node("ReGelu2", ["X"], ["Y", "Code"], CustomOpLibrary.Domain)
        .Node("ReGelu2Grad", ["dY", "Code"], ["dX"], CustomOpLibrary.Domain)
        .ToBytes();

    [Fact]
    public void CheckedInSampleModelIsTheBuiltOne()
    {
        byte[] built = BuildReGelu2Sample();
        if (Environment.GetEnvironmentVariable("ONNXMEMOPT_UPDATE_FIXTURES") == "1") File.WriteAllBytes(CheckedInPath, built);
        Assert.True(File.Exists(CheckedInPath), $"{CheckedInPath} is missing: run this test with ONNXMEMOPT_UPDATE_FIXTURES=1");
        Assert.Equal(built, File.ReadAllBytes(CheckedInPath));
    }

    [Fact]
    public void SampleModelRunsWithTheLibrary()
    {
        using var session = OrtRunner.CreateSession(BuildReGelu2Sample());
        float[] x = [-4f, -1f, 0f, 0.5f, 1f, 2f, 4f];
        using var results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [x.Length])),
            NamedOnnxValue.CreateFromTensor("dY", new DenseTensor<float>(Enumerable.Repeat(1f, x.Length).ToArray(), [x.Length])),
        ]);
        byte[] code = results.First(r => r.Name == "Code").AsEnumerable<byte>().ToArray();
        Assert.Equal(2, code.Length);
        // codes 0,1,2,2 | 2,2,3 packed two bits each, least significant first
        Assert.Equal([0b10_10_01_00, 0b11_10_10], code);
    }
}
