using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Onnx;

/// <summary>External data is read only from inside the model's folder, with offsets checked, and
/// a model too large for one protobuf is written with its large initializers moved to a side file.</summary>
public class ExternalDataTests
{
    private static readonly float[] Values = [1.5f, -2.25f];

    private static string WriteModelWithExternal(TempDirectory temp, TensorProto weight)
    {
        byte[] model = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 2)
            .Output("y", TensorProto.Types.DataType.Float, 2)
            .Initializer(weight)
            .Node("Add", ["x", "w"], ["y"])
            .ToBytes();
        string path = temp.File("model.onnx");
        File.WriteAllBytes(path, model);
        return path;
    }

    private static byte[] ValueBytes() => Values.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void ReadsExternalDataAtOffsetInsideTheFolder()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.File("weights"));
        File.WriteAllBytes(temp.File("weights/w.bin"), [.. new byte[16], .. ValueBytes()]);
        string path = WriteModelWithExternal(temp, InvalidInputTests.External("weights/w.bin", offset: 16, length: 8));
        OnnxModel model = OnnxModel.Load(path);
        Assert.Equal(Values, TensorData.ToFloats(model.Graph.Initializer("w")!, model));
    }

    [Theory]
    [InlineData("missing.bin", null, null, "does not exist")]
    [InlineData("w.bin", 4L, 8L, "past the end")]
    [InlineData("w.bin", 12L, null, "past the end")]
    [InlineData("w.bin", 0L, 4L, "need 8")]
    public void BadExternalDataFailsWhenRead(string location, long? offset, long? length, string reason)
    {
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("w.bin"), ValueBytes());
        string path = WriteModelWithExternal(temp, InvalidInputTests.External(location, offset, length));
        OnnxModel model = OnnxModel.Load(path);
        var error = Assert.Throws<ExternalDataException>(() => TensorData.ToFloats(model.Graph.Initializer("w")!, model));
        Assert.Contains(reason, error.Message);
        Assert.StartsWith(path, error.Message);
    }

    [Fact]
    public void SymbolicLinkLeavingTheFolderIsRefused()
    {
        using var outside = new TempDirectory();
        using var temp = new TempDirectory();
        File.WriteAllBytes(outside.File("secret.bin"), ValueBytes());
        File.CreateSymbolicLink(temp.File("w.bin"), outside.File("secret.bin"));
        string path = WriteModelWithExternal(temp, InvalidInputTests.External("w.bin"));
        var error = Assert.Throws<ExternalDataException>(() => OnnxModel.Load(path));
        Assert.Contains("link that leaves the model's folder", error.Message);
    }

    [Fact]
    public void LargeModelsMoveInitializersToExternalData()
    {
        using var temp = new TempDirectory();
        double[] bigValues = Enumerable.Range(0, 1000).Select(i => i * 0.5).ToArray();
        var big = TensorData.Create("w", ElementTypes.Float, [1000], bigValues);
        var small = TensorData.Create("s", ElementTypes.Float, [1], [3.0]);
        ModelProto proto = new TinyModel()
            .Input("x", TensorProto.Types.DataType.Float, 1000)
            .Output("y", TensorProto.Types.DataType.Float, 1000)
            .Initializer(big).Initializer(small)
            .Node("Add", ["x", "w"], ["t"]).Node("Add", ["t", "s"], ["y"])
            .Build();
        OnnxModel model = OnnxModel.FromProto(proto);
        byte[] before = model.ToBytes();
        long threshold = before.Length - 100; // too big by less than the largest tensor: only it must leave

        string output = temp.File("out.onnx");
        ModelWriter.Save(model, output, threshold);

        Assert.Equal(before, model.ToBytes()); // the in-memory model is untouched
        OnnxModel reloaded = OnnxModel.Load(output);
        TensorProto w = reloaded.Graph.Initializer("w")!;
        Assert.True(TensorData.IsExternal(w));
        Assert.False(TensorData.IsExternal(reloaded.Graph.Initializer("s")!));
        Assert.Equal(bigValues, TensorData.ToDoubles(w, reloaded));
        Assert.True(File.Exists(temp.File("out.onnx.data")));
        Assert.Empty(Directory.EnumerateFiles(temp.Path, "*.tmp"));
    }

    [Fact]
    public void TensorDataRoundTripsEveryWrittenType()
    {
        foreach (int type in new[] { ElementTypes.Float, ElementTypes.Double, ElementTypes.Float16, ElementTypes.BFloat16, ElementTypes.Int64, ElementTypes.Int32 })
        {
            double[] values = ElementTypes.IsFloatingPoint(type) ? [0, 1, -2.5, 1024] : [0, 1, -2, 1024];
            TensorProto tensor = TensorData.Create("t", type, [2, 2], values);
            Assert.Equal(values, TensorData.ToDoubles(tensor));
            Assert.Equal(ByteString.CopyFrom(tensor.RawData.ToByteArray()), tensor.RawData);
        }
    }
}
