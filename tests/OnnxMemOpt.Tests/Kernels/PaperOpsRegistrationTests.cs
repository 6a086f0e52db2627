using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Kernels;

/// <summary>
/// The library's paper-only registration (for ONNX Runtime Training hosts, which have the training
/// kernels themselves): the com.onnxmemopt ops run, and no com.microsoft training op is registered.
/// On the stock runtime a training op then has no kernel at all, which is what shows it was left out.
/// </summary>
public class PaperOpsRegistrationTests
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    private static byte[] ReGelu2Model() => new TinyModel()
        .Input("x", F, 2, 4)
        .Output("y", F, 2, 4)
        .OutputUnshaped("code", TensorProto.Types.DataType.Uint8)
        .Node("ReGelu2", ["x"], ["y", "code"], CustomOpLibrary.Domain)
        .ToBytes();

    private static byte[] GeluGradModel() => new TinyModel()
        .Input("dy", F, 2, 4)
        .Input("x", F, 2, 4)
        .Output("dx", F, 2, 4)
        .Node("GeluGrad", ["dy", "x"], ["dx"], "com.microsoft")
        .ToBytes();

    public static TheoryData<string> PaperOnlyWays => new() { "CustomOpLibrary.RegisterPaperOps", "config entry", "native RegisterPaperOps" };

    [Theory]
    [MemberData(nameof(PaperOnlyWays))]
    public void PaperOpsRunAndTrainingOpsAreLeftOut(string way)
    {
        using SessionOptions options = PaperOnly(way);
        using (var session = new InferenceSession(ReGelu2Model(), options))
        {
            float[] x = [-4f, -1f, -0.5f, 0f, 0.25f, 1f, 2f, 5f];
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [2, 4]))]);
            float[] y = results.Single(r => r.Name == "y").AsTensor<float>().ToArray();
            // The forward is exact GELU.
            Assert.Equal(0.5 * 1 * (1 + Erf(1 / Math.Sqrt(2))), y[5], 5);
        }
        using SessionOptions again = PaperOnly(way);
        var error = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(GeluGradModel(), again));
        Assert.Contains("GeluGrad", error.Message);
    }

    [Fact]
    public void FullRegistrationStillHasTheTrainingOps()
    {
        using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
        using var session = new InferenceSession(GeluGradModel(), options);
        Assert.Contains("dx", session.OutputMetadata.Keys);
    }

    [Fact]
    public void AnUnknownOpSetIsAnErrorNotAFullRegistration()
    {
        using var options = new SessionOptions();
        options.AddSessionConfigEntry(CustomOpLibrary.OpSetConfigKey, "some");
        var error = Assert.ThrowsAny<OnnxRuntimeException>(() => CustomOpLibrary.Register(options));
        Assert.Contains("expected 'all' or 'paper'", error.Message);
    }

    [System.Runtime.InteropServices.DllImport("onnxruntime", EntryPoint = "OrtGetApiBase")]
    private static extern nint OrtGetApiBase();

    private static unsafe SessionOptions PaperOnly(string way)
    {
        var options = new SessionOptions();
        if (way == "CustomOpLibrary.RegisterPaperOps")
        {
            CustomOpLibrary.RegisterPaperOps(options);
        }
        else if (way == "native RegisterPaperOps")
        {
            // The second entry point itself, as a C or C++ host calls it after dlopen/dlsym.
            nint library = System.Runtime.InteropServices.NativeLibrary.Load(CustomOpLibrary.Path);
            var register = (delegate* unmanaged<nint, nint, nint>)System.Runtime.InteropServices.NativeLibrary.GetExport(library, "RegisterPaperOps");
            nint status = register(options.DangerousGetHandle(), OrtGetApiBase());
            Assert.Equal(0, status);
        }
        else
        {
            // What a Python host does: add_session_config_entry, then register_custom_ops_library.
            options.AddSessionConfigEntry(CustomOpLibrary.OpSetConfigKey, "paper");
            options.RegisterCustomOpLibrary(CustomOpLibrary.Path);
        }
        return options;
    }

    private static double Erf(double x)
    {
        // Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for a 5-digit check.
        double t = 1 / (1 + (0.3275911 * Math.Abs(x)));
        double y = 1 - ((((((1.061405429 * t) - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x);
        return x >= 0 ? y : -y;
    }
}
