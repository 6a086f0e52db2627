using System.Text.Json;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fuzz;

public class NonFiniteReportTests
{
    [Fact]
    public void VerifyReportsNonFiniteDifferencesAsNull()
    {
        // Found by the long fuzz run: outputs that are infinite make the relative difference NaN,
        // which JSON cannot carry; the report must still parse.
        using var temp = new TempDirectory();
        string path = temp.File("overflow.onnx");
        File.WriteAllBytes(path, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 4)
            .Output("y", TensorProto.Types.DataType.Float, 4)
            .Initializer(TensorData.Create("zero", ElementTypes.Float, [1], [0.0]))
            .Node("Div", ["x", "zero"], ["y"]).ToBytes());
        CliRunner.Result result = CliRunner.Run("verify", path, path, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using JsonDocument json = JsonDocument.Parse(result.Stdout);
        JsonElement forward = json.RootElement.GetProperty("forward_max_rel_diff");
        Assert.True(forward.ValueKind == JsonValueKind.Null || double.IsFinite(forward.GetDouble()), forward.ToString());
    }
}
