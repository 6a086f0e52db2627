using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using static OnnxMemOpt.Tests.Support.TinyModel;

namespace OnnxMemOpt.Tests.Onnx;

/// <summary>The canonical text form (`onnxmemopt print`, <see cref="ModelText"/>): what it shows and what it must not depend on.</summary>
public class ModelTextTests
{
    private const TensorProto.Types.DataType F = TensorProto.Types.DataType.Float;

    private static ModelProto Model(TensorProto weight) => new TinyModel()
        .Opset("", 17).Input("x", F, null, 2).Output("y", F, null, 2)
        .Initializer(weight)
        .Node("MatMul", ["x", "w"], ["y"])
        .Build();

    [Fact]
    public void ShowsShapesAndDigestsButNoValues()
    {
        string text = ModelText.Of(OnnxModel.FromProto(Model(FloatTensor("w", [2, 2], [1.5f, -2f, 0.25f, 3f]))));
        string[] lines = text.Split('\n');
        Assert.Equal(ModelText.Header, lines[0]);
        Assert.Contains("opset ai.onnx 17", lines);
        Assert.Contains("  input x float[d0,2]", lines);
        Assert.Contains(lines, l => l.StartsWith("  initializer w float[2,2] sha256=", StringComparison.Ordinal) && l.Length == "  initializer w float[2,2] sha256=".Length + 16);
        Assert.Contains(lines, l => l.StartsWith("  MatMul \"", StringComparison.Ordinal) && l.EndsWith("\" (x, w) -> (y)", StringComparison.Ordinal));
        Assert.DoesNotContain("1.5", text, StringComparison.Ordinal);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void DigestDependsOnValuesNotOnHowTheFileStoresThem()
    {
        float[] values = [1.5f, -2f, 0.25f, 3f];
        var raw = FloatTensor("w", [2, 2], values);
        var typed = new TensorProto { Name = "w", DataType = (int)F, Dims = { 2, 2 } };
        typed.FloatData.AddRange(values);
        var changed = FloatTensor("w", [2, 2], [1.5f, -2f, 0.25f, 3.0000002f]);

        string fromRaw = ModelText.Of(OnnxModel.FromProto(Model(raw)));
        Assert.Equal(fromRaw, ModelText.Of(OnnxModel.FromProto(Model(typed))));
        Assert.NotEqual(fromRaw, ModelText.Of(OnnxModel.FromProto(Model(changed))));
        // Sixteen-bit values in int32_data digest like their raw little-endian bytes.
        var halfRaw = new TensorProto { Name = "h", DataType = (int)TensorProto.Types.DataType.Float16, Dims = { 2 }, RawData = ByteString.CopyFrom(0x00, 0x3C, 0x00, 0xC0) };
        var halfTyped = new TensorProto { Name = "h", DataType = (int)TensorProto.Types.DataType.Float16, Dims = { 2 }, Int32Data = { 0x3C00, 0xC000 } };
        Assert.Equal(TensorData.PackedBytes(halfRaw), TensorData.PackedBytes(halfTyped));
    }

    [Fact]
    public void ExternalDataThatIsAbsentIsNamedNotRead()
    {
        using var temp = new TempDirectory();
        var weight = new TensorProto { Name = "w", DataType = (int)F, Dims = { 2, 2 }, DataLocation = TensorProto.Types.DataLocation.External };
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        string path = Path.Combine(temp.Path, "m.onnx");
        File.WriteAllBytes(path, Model(weight).ToByteArray());
        string text = ModelText.Of(OnnxModel.Load(path));
        Assert.Contains("  initializer w float[2,2] external=\"weights.bin\" (not readable)\n", text, StringComparison.Ordinal);

        File.WriteAllBytes(Path.Combine(temp.Path, "weights.bin"), TensorData.PackedBytes(FloatTensor("w", [2, 2], [1.5f, -2f, 0.25f, 3f])));
        string inline = ModelText.Of(OnnxModel.FromProto(Model(FloatTensor("w", [2, 2], [1.5f, -2f, 0.25f, 3f]))));
        Assert.Equal(inline, ModelText.Of(OnnxModel.Load(path)));
    }

    [Fact]
    public void SubgraphsAreNestedAndAttributesSorted()
    {
        var branch = new GraphProto { Name = "then" };
        branch.Output.Add(new ValueInfoProto { Name = "t" });
        branch.Node.Add(new NodeProto { OpType = "Identity", Input = { "x" }, Output = { "t" } });
        var model = new TinyModel().Opset("", 17).Input("c", TensorProto.Types.DataType.Bool).Input("x", F, 2).Output("y", F, 2).Build();
        model.Graph.Node.Add(new NodeProto
        {
            OpType = "If", Name = "if", Input = { "c" }, Output = { "y" },
            Attribute =
            {
                new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch },
                new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = branch },
            },
        });
        string[] lines = ModelText.Of(OnnxModel.FromProto(model)).Split('\n');
        int node = Array.IndexOf(lines, "  If \"if\" (c) -> (y) else_branch=graph then_branch=graph");
        Assert.True(node > 0, string.Join("\n", lines));
        Assert.Equal(["    else_branch:", "      graph \"then\"", "        output t ?", "        Identity \"\" (x) -> (t)", "    then_branch:"], lines[(node + 1)..(node + 6)]);
    }

    [Fact]
    public void PrintCommandIsByteIdenticalAcrossRunsAndWritesAtomically()
    {
        using var temp = new TempDirectory();
        string model = Path.Combine(SharedTestData.RepoRoot, "fixtures", "models", "vit-tiny.onnx");
        CliRunner.Result first = CliRunner.Run("print", model);
        CliRunner.Result second = CliRunner.Run("print", model);
        Assert.Equal(0, first.ExitCode);
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.Equal(ModelText.Of(OnnxModel.Load(model)), first.Stdout);

        string output = Path.Combine(temp.Path, "vit.txt");
        Assert.Equal(0, CliRunner.Run("print", model, "-o", output).ExitCode);
        Assert.Equal(first.Stdout, File.ReadAllText(output));
        Assert.Equal(["vit.txt"], Directory.EnumerateFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void PrintRefusesAnInvalidModelWithOneLineAndNoOutput()
    {
        using var temp = new TempDirectory();
        string bad = Path.Combine(temp.Path, "bad.onnx");
        File.WriteAllBytes(bad, [0x0A, 0xFF, 0xFF]);
        string output = Path.Combine(temp.Path, "out.txt");
        CliRunner.Result result = CliRunner.Run("print", bad, "-o", output);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains(bad, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.TrimEnd('\n').Split('\n'));
        Assert.False(File.Exists(output));
    }
}
