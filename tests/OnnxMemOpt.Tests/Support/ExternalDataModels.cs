using System.Security.Cryptography;
using Google.Protobuf;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// Models with external data as PyTorch users get them: onnx's
/// <c>save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=...)</c>
/// moves every tensor with raw data above a size (initializers and Constant attributes alike) into
/// one file beside the model. Written here byte by byte, independently of the project's writer, so
/// that the tests need no PyTorch and do not test the writer with itself.
/// </summary>
public static class ExternalDataModels
{
    public static readonly string FixtureFolder = Path.Combine(SharedTestData.RepoRoot, "fixtures", "models");

    /// <summary>A checked-in fixture (e.g. "vit-tiny") with its symbol "batch" renamed as torch's dynamic_axes would name it.</summary>
    public static ModelProto Fixture(string name, string batchSymbol = "batch_size") =>
        WithSymbolRenamed(ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(FixtureFolder, name + ".onnx"))), "batch", batchSymbol);

    /// <summary>Writes <paramref name="proto"/> to folder/fileName with every tensor of at least <paramref name="minBytes"/> in folder/location.</summary>
    public static string Write(ModelProto proto, string folder, string fileName = "model.onnx", string location = "model.onnx.data", int minBytes = 64)
    {
        ModelProto model = proto.Clone();
        string dataPath = Path.Combine(folder, location);
        Directory.CreateDirectory(Path.GetDirectoryName(dataPath)!);
        using (var data = new FileStream(dataPath, FileMode.Create, FileAccess.Write))
        {
            foreach (TensorProto tensor in ModelTensors.All(model).Where(t => t.HasRawData && t.RawData.Length >= minBytes).ToList())
            {
                long offset = data.Position;
                tensor.RawData.WriteTo(data);
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = tensor.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.ClearRawData();
            }
        }
        string path = Path.Combine(folder, fileName);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    public static ModelProto WithSymbolRenamed(ModelProto proto, string from, string to)
    {
        ModelProto model = proto.Clone();
        GraphProto graph = model.Graph;
        foreach (ValueInfoProto info in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            foreach (TensorShapeProto.Types.Dimension dim in info.Type?.TensorType?.Shape?.Dim ?? [])
            {
                if (dim.DimParam == from) dim.DimParam = to;
            }
        }
        return model;
    }

    /// <summary>Hashes of every file under <paramref name="folder"/>: an input folder must read the same after a command.</summary>
    public static Dictionary<string, string> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))), StringComparer.Ordinal);

    /// <summary>Where each external tensor of the model at <paramref name="path"/> points (location values).</summary>
    public static IReadOnlyList<string> Locations(string path) =>
        ModelTensors.External(OnnxModel.Load(path).Proto)
            .Select(t => t.ExternalData.Single(e => e.Key == "location").Value)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
}
