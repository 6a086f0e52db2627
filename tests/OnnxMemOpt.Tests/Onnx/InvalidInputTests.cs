using Google.Protobuf;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Onnx;

/// <summary>
/// Every class of invalid input gives exit code 3, a one-line message naming the file and the
/// reason, and leaves no output file (nor a temporary one) behind.
/// </summary>
public class InvalidInputTests
{
    private static TinyModel ValidChain() => new TinyModel()
        .Input("x", TensorProto.Types.DataType.Float, 2, 3)
        .Output("z", TensorProto.Types.DataType.Float, 2, 3)
        .Node("Relu", ["x"], ["y"])
        .Node("Neg", ["y"], ["z"]);

    public static TheoryData<string, string> Cases() => new()
    {
        { "truncated", "is not a valid ONNX protobuf" },
        { "not-protobuf", "is not a valid ONNX protobuf" },
        { "not-a-model", "is not an ONNX model" },
        { "undefined-input", "reads undefined value 'nowhere'" },
        { "cycle", "cycle" },
        { "duplicate-output", "produced by more than one node" },
        { "empty-file", "is not an ONNX model" },
        { "negative-dim", "negative dimension" },
        { "raw-data-size", "bytes of raw_data but its dims and type need" },
        { "external-absolute", "is absolute" },
        { "external-dotdot", "contains '..'" },
        { "missing-file", "no such file" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void InvalidInputExitsWith3AndLeavesNoOutput(string kind, string expectedReason)
    {
        using var temp = new TempDirectory();
        string input = temp.File($"{kind}.onnx");
        if (kind != "missing-file")
        {
            File.WriteAllBytes(input, Build(kind));
        }
        string output = temp.File("out.onnx");

        foreach (string[] args in new[] { new[] { "inspect", input }, ["rewrite", input, "-o", output, "--passes", "none"] })
        {
            CliRunner.Result result = CliRunner.Run(args);
            Assert.Equal(3, result.ExitCode);
            string message = result.Stderr.TrimEnd('\n');
            Assert.DoesNotContain('\n', message);
            Assert.Contains(input, message);
            Assert.Contains(expectedReason, message);
            Assert.Equal("", result.Stdout);
        }
        Assert.False(File.Exists(output));
        Assert.DoesNotContain(Directory.EnumerateFiles(temp.Path), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void CycleMessageNamesTheNode()
    {
        using var temp = new TempDirectory();
        string input = temp.File("cycle.onnx");
        File.WriteAllBytes(input, Build("cycle"));
        CliRunner.Result result = CliRunner.Run("inspect", input);
        Assert.Contains("node '", result.Stderr);
    }

    [Fact]
    public void RewriteRefusesToOverwriteItsInput()
    {
        using var temp = new TempDirectory();
        string input = temp.File("model.onnx");
        byte[] bytes = ValidChain().ToBytes();
        File.WriteAllBytes(input, bytes);
        CliRunner.Result result = CliRunner.Run("rewrite", input, "-o", input, "--passes", "none");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("refusing to overwrite the input", result.Stderr);
        Assert.Equal(bytes, File.ReadAllBytes(input));
    }

    [Fact]
    public void ExistingOutputIsReplacedOnlyOnSuccess()
    {
        using var temp = new TempDirectory();
        string output = temp.File("out.onnx");
        File.WriteAllText(output, "previous");
        string bad = temp.File("bad.onnx");
        File.WriteAllBytes(bad, Build("cycle"));
        Assert.Equal(3, CliRunner.Run("rewrite", bad, "-o", output, "--passes", "none").ExitCode);
        Assert.Equal("previous", File.ReadAllText(output));

        string good = temp.File("good.onnx");
        File.WriteAllBytes(good, ValidChain().ToBytes());
        Assert.Equal(0, CliRunner.Run("rewrite", good, "-o", output, "--passes", "none").ExitCode);
        Assert.Equal(File.ReadAllBytes(good), File.ReadAllBytes(output));
    }

    [Fact]
    public void UsageErrorsExitWith2()
    {
        Assert.Equal(2, CliRunner.Run("inspect").ExitCode);
        Assert.Equal(2, CliRunner.Run("no-such-command").ExitCode);
        Assert.Equal(2, CliRunner.Run("inspect", "m.onnx", "--dim", "batch").ExitCode);
        Assert.Equal(2, CliRunner.Run("rewrite", "m.onnx", "-o", "x.onnx", "--passes", "bogus").ExitCode);
    }

    private static byte[] Build(string kind)
    {
        byte[] valid = ValidChain().ToBytes();
        switch (kind)
        {
            case "truncated":
                return valid[..(valid.Length / 2)];
            case "not-protobuf":
                return [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
            case "not-a-model":
                // A well-formed protobuf of another message: parses, but has no graph.
                return new StringStringEntryProto { Key = "author", Value = "someone" }.ToByteArray();
            case "empty-file":
                return [];
            case "undefined-input":
                return new TinyModel().Input("x", TensorProto.Types.DataType.Float, 2).Output("y", TensorProto.Types.DataType.Float, 2)
                    .Node("Add", ["x", "nowhere"], ["y"]).ToBytes();
            case "cycle":
                return new TinyModel().Input("x", TensorProto.Types.DataType.Float, 2).Output("b", TensorProto.Types.DataType.Float, 2)
                    .Node("Add", ["x", "b"], ["a"]).Node("Relu", ["a"], ["b"]).ToBytes();
            case "duplicate-output":
                return new TinyModel().Input("x", TensorProto.Types.DataType.Float, 2).Output("y", TensorProto.Types.DataType.Float, 2)
                    .Node("Relu", ["x"], ["y"]).Node("Neg", ["x"], ["y"]).ToBytes();
            case "negative-dim":
                return ValidChain().Initializer(TinyModel.FloatTensor("w", [-2], [])).ToBytes();
            case "raw-data-size":
            {
                TensorProto w = new() { Name = "w", DataType = 1, RawData = ByteString.CopyFrom(new byte[5]) };
                w.Dims.Add(2);
                return ValidChain().Initializer(w).ToBytes();
            }
            case "external-absolute":
                return ValidChain().Initializer(External("/etc/passwd")).ToBytes();
            case "external-dotdot":
                return ValidChain().Initializer(External("../secret.bin")).ToBytes();
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    public static TensorProto External(string location, long? offset = null, long? length = null)
    {
        var tensor = new TensorProto { Name = "w", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.Add(2);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (offset is { } o) tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = o.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is { } l) tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return tensor;
    }
}
