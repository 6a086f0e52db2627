using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fuzz;

public class HugeDimTrainGraphTests
{
    [Fact]
    public void TrainGraphRefusesParametersOfAbsurdSize()
    {
        // Found by the long fuzz run: a declared hidden size of 2^40 made the head's weight
        // allocation overflow instead of refusing the model.
        using var temp = new TempDirectory();
        string path = temp.File("huge-hidden.onnx");
        File.WriteAllBytes(path, new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 2, 1L << 40)
            .Output("y", TensorProto.Types.DataType.Float, 2, 1L << 40)
            .Node("Relu", ["x"], ["y"]).ToBytes());
        string output = temp.File("train.onnx");
        CliRunner.Result result = CliRunner.Run("train-graph", path, "-o", output, "--trainable", "none", "--head-classes", "2");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("over the size limit", result.Stderr);
        Assert.False(File.Exists(output));
    }
}
