using System.Buffers.Binary;
using OnnxMemOpt.Runtime.Checkpoints;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class OrtCheckpointReaderTests
{
    private const string MlpCheckpoint = "ort-training/mlp-artifacts/checkpoint.ckpt";
    private const string LoraCheckpoint = "ort-training/lora-mlp/checkpoint";

    [SkippableFact]
    public void ReadsTheMlpModuleState()
    {
        string path = SharedTestData.RequireFile(MlpCheckpoint);
        OrtCheckpoint checkpoint = OrtCheckpointReader.Read(path);

        Assert.Equal(2, checkpoint.Version);
        Assert.Empty(checkpoint.FrozenParameters);
        var shapes = checkpoint.TrainableParameters.ToDictionary(t => t.Name, t => t.Dims);
        Assert.Equal(new Dictionary<string, long[]>
        {
            ["fc1.weight"] = [500, 784],
            ["fc1.bias"] = [500],
            ["fc2.weight"] = [10, 500],
            ["fc2.bias"] = [10],
        }, shapes);

        // The parameter data is almost the whole file: 397,510 floats plus FlatBuffer framing.
        long dataBytes = checkpoint.TrainableParameters.Sum(t => t.Data.LongLength * sizeof(float));
        Assert.Equal(397_510L * sizeof(float), dataBytes);
        Assert.InRange(new FileInfo(path).Length - dataBytes, 0, 1024);
        // Initialised weights: finite, small (PyTorch's uniform(±1/sqrt(fan_in)) init), not all zero.
        CheckpointTensor fc1 = checkpoint.TrainableParameters.Single(t => t.Name == "fc1.weight");
        Assert.All(fc1.Data, v => Assert.InRange(v, -1f / MathF.Sqrt(784) - 1e-6f, 1f / MathF.Sqrt(784) + 1e-6f));
        Assert.Contains(fc1.Data, v => v != 0);
        Assert.Empty(checkpoint.OptimizerGroups);
    }

    [SkippableFact]
    public void ReadsTheLoraCheckpointFromItsFolderToo()
    {
        string file = SharedTestData.RequireFile(LoraCheckpoint);
        OrtCheckpoint fromFile = OrtCheckpointReader.Read(file);
        OrtCheckpoint fromFolder = OrtCheckpointReader.Read(Path.GetDirectoryName(file)!);

        Assert.Equal(["linear.weight", "linear.bias", "lora.A", "lora.B"], fromFile.TrainableParameters.Select(t => t.Name));
        Assert.Equal([[2, 10], [2], [10, 2], [2, 2]], fromFile.TrainableParameters.Select(t => t.Dims));
        // LoRA initialises B to zero so the adapted model starts equal to the base model.
        Assert.All(fromFile.TrainableParameters.Single(t => t.Name == "lora.B").Data, v => Assert.Equal(0f, v));
        Assert.Equal(
            fromFile.TrainableParameters.SelectMany(t => t.Data),
            fromFolder.TrainableParameters.SelectMany(t => t.Data));
    }

    [SkippableFact]
    public void RawDataMatchesTheBytesInTheFile()
    {
        // Independent of the reader's table walking: the first tensor's float data must occur verbatim.
        string path = SharedTestData.RequireFile(LoraCheckpoint);
        byte[] bytes = File.ReadAllBytes(path);
        foreach (CheckpointTensor tensor in OrtCheckpointReader.Read(path).TrainableParameters)
        {
            byte[] expected = new byte[tensor.Data.Length * 4];
            for (int i = 0; i < tensor.Data.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(expected.AsSpan(i * 4), tensor.Data[i]);
            }
            Assert.True(bytes.AsSpan().IndexOf(expected) >= 0, $"{tensor.Name}'s bytes are not in the file");
        }
    }

    [SkippableFact]
    public void WrongIdentifierIsRejectedWithTheFileName()
    {
        byte[] bytes = File.ReadAllBytes(SharedTestData.RequireFile(LoraCheckpoint));
        bytes[4] = (byte)'X';
        var error = Assert.Throws<InvalidDataException>(() => OrtCheckpointReader.Parse(bytes, "/tmp/broken.ckpt"));
        Assert.Contains("/tmp/broken.ckpt", error.Message, StringComparison.Ordinal);
        Assert.Contains("XDTC", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void EveryTruncationFailsCleanly()
    {
        byte[] bytes = File.ReadAllBytes(SharedTestData.RequireFile(LoraCheckpoint));
        for (int length = 0; length < bytes.Length; length++)
        {
            byte[] truncated = bytes[..length];
            // Either a clean format error or (when only padding was cut) a valid read; never a crash.
            try
            {
                OrtCheckpointReader.Parse(truncated, "truncated.ckpt");
            }
            catch (InvalidDataException error)
            {
                Assert.Contains("truncated.ckpt", error.Message, StringComparison.Ordinal);
            }
        }
    }

    [SkippableFact]
    public void RandomCorruptionNeverEscapesAsAnotherException()
    {
        byte[] original = File.ReadAllBytes(SharedTestData.RequireFile(LoraCheckpoint));
        var random = new Random(1234);
        int rejected = 0;
        for (int trial = 0; trial < 2000; trial++)
        {
            byte[] bytes = (byte[])original.Clone();
            for (int flips = random.Next(1, 4); flips > 0; flips--)
            {
                bytes[random.Next(8, bytes.Length)] = (byte)random.Next(256);
            }
            try
            {
                OrtCheckpointReader.Parse(bytes, "fuzz.ckpt");
            }
            catch (InvalidDataException)
            {
                rejected++;
            }
            catch (NotSupportedException)
            {
                // A flipped is_nominal_state byte: reported as unsupported, equally clean.
                rejected++;
            }
        }
        Assert.True(rejected > 0, "no corruption was detected at all");
    }

    [Fact]
    public void MissingFileAndAmbiguousFolderAreReported()
    {
        string folder = Directory.CreateTempSubdirectory("ckpt-test").FullName;
        try
        {
            Assert.Throws<FileNotFoundException>(() => OrtCheckpointReader.Read(Path.Combine(folder, "absent.ckpt")));
            File.WriteAllBytes(Path.Combine(folder, "a.ckpt"), [1]);
            File.WriteAllBytes(Path.Combine(folder, "checkpoint"), [1]);
            var error = Assert.Throws<FileNotFoundException>(() => OrtCheckpointReader.Read(folder));
            Assert.Contains("2 files", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ReadsOptimizerGroupsAndPropertiesOfAHandBuiltCheckpoint()
    {
        byte[] bytes = SyntheticCheckpoint(step: 7, learningRate: 0.25f);
        OrtCheckpoint checkpoint = OrtCheckpointReader.Parse(bytes, "built.ckpt");

        Assert.Equal(3, checkpoint.Version);
        CheckpointTensor w = Assert.Single(checkpoint.TrainableParameters);
        Assert.Equal("w", w.Name);
        Assert.Equal([2L, 2], w.Dims);
        Assert.Equal([1f, 2f, 3f, 4f], w.Data);
        Assert.Equal("b", Assert.Single(checkpoint.FrozenParameters).Name);

        OptimizerGroupState group = Assert.Single(checkpoint.OptimizerGroups);
        Assert.Equal(("group0", 7L, 0.25f), (group.Name, group.Step, group.InitialLearningRate));
        ParameterMoments moments = Assert.Single(group.Parameters);
        Assert.Equal("w", moments.ParameterName);
        Assert.Equal(["momentum0", "momentum1"], moments.Moments.Select(m => m.Name));
        Assert.Equal([0.1f, 0.2f, 0.3f, 0.4f], moments.Moments[0].Data);
        Assert.Equal([0.01f, 0.02f, 0.03f, 0.04f], moments.Moments[1].Data);

        Assert.Equal(42L, checkpoint.Properties.Ints["epoch"]);
        Assert.Equal(0.5f, checkpoint.Properties.Floats["best_loss"]);
        Assert.Equal("mnist", checkpoint.Properties.Strings["dataset"]);
    }

    [Fact]
    public void ShapeAndDataSizeMismatchIsReported()
    {
        byte[] bytes = FlatBufferWriter.Build(CheckpointTable(Tensor("w", [3, 3], [1f, 2f]), null, null), "ODTC");
        var error = Assert.Throws<InvalidDataException>(() => OrtCheckpointReader.Parse(bytes, "mismatch.ckpt"));
        Assert.Contains("'w'", error.Message, StringComparison.Ordinal);
        Assert.Contains("36 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NominalCheckpointsAreRefused()
    {
        var module = new FlatBufferWriter.Table(new Dictionary<int, object> { [2] = FlatBufferWriter.Bool(true) });
        byte[] bytes = FlatBufferWriter.Build(new FlatBufferWriter.Table(new Dictionary<int, object> { [1] = module }), "ODTC");
        Assert.Throws<NotSupportedException>(() => OrtCheckpointReader.Parse(bytes, "nominal.ckpt"));
    }

    internal static byte[] SyntheticCheckpoint(long step, float learningRate)
    {
        var group = new FlatBufferWriter.Table(new Dictionary<int, object>
        {
            [0] = new FlatBufferWriter.Str("group0"),
            [1] = FlatBufferWriter.Int64(step),
            [2] = FlatBufferWriter.Single(learningRate),
            [3] = new FlatBufferWriter.Vector([new FlatBufferWriter.Table(new Dictionary<int, object>
            {
                [0] = new FlatBufferWriter.Str("w"),
                [1] = new FlatBufferWriter.Vector([
                    Tensor("momentum0", [2, 2], [0.1f, 0.2f, 0.3f, 0.4f]),
                    Tensor("momentum1", [2, 2], [0.01f, 0.02f, 0.03f, 0.04f])]),
            })]),
        });
        var properties = new FlatBufferWriter.Table(new Dictionary<int, object>
        {
            [0] = new FlatBufferWriter.Vector([Property(new FlatBufferWriter.Str("epoch"), FlatBufferWriter.Int64(42))]),
            [1] = new FlatBufferWriter.Vector([Property(new FlatBufferWriter.Str("best_loss"), FlatBufferWriter.Single(0.5f))]),
            [2] = new FlatBufferWriter.Vector([Property(new FlatBufferWriter.Str("dataset"), new FlatBufferWriter.Str("mnist"))]),
        });
        var root = CheckpointTable(Tensor("w", [2, 2], [1f, 2f, 3f, 4f]), group, properties, Tensor("b", [2], [5f, 6f]));
        return FlatBufferWriter.Build(root, "ODTC");
    }

    private static FlatBufferWriter.Table CheckpointTable(FlatBufferWriter.Table trainable, FlatBufferWriter.Table? group,
        FlatBufferWriter.Table? properties, FlatBufferWriter.Table? frozen = null)
    {
        var module = new Dictionary<int, object> { [0] = new FlatBufferWriter.Vector([trainable]) };
        if (frozen is not null)
        {
            module[1] = new FlatBufferWriter.Vector([frozen]);
        }
        var fields = new Dictionary<int, object>
        {
            [0] = FlatBufferWriter.Int32(3),
            [1] = new FlatBufferWriter.Table(module),
        };
        if (group is not null)
        {
            fields[2] = new FlatBufferWriter.Vector([group]);
        }
        if (properties is not null)
        {
            fields[3] = properties;
        }
        return new FlatBufferWriter.Table(fields);
    }

    // ort.fbs Tensor: name 0, doc_string 1, dims 2, data_type 3 (FLOAT = 1), raw_data 4.
    private static FlatBufferWriter.Table Tensor(string name, long[] dims, float[] data) => new(new Dictionary<int, object>
    {
        [0] = new FlatBufferWriter.Str(name),
        [2] = FlatBufferWriter.Int64s(dims),
        [3] = FlatBufferWriter.Int32(1),
        [4] = FlatBufferWriter.Floats(data),
    });

    private static FlatBufferWriter.Table Property(FlatBufferWriter.Str name, object value) =>
        new(new Dictionary<int, object> { [0] = name, [1] = value });
}
