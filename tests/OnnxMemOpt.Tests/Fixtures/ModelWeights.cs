using System.Buffers.Binary;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// A model's float initializers, read by parameter name and widened to float64 for the reference
/// forwards. Asking for a shape checks the storage layout the builder promises ([in, out] for MatMul).
/// </summary>
public sealed class ModelWeights(ModelProto model)
{
    private readonly Dictionary<string, TensorProto> _byName = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);

    public double[] Get(string name, params long[] expectedDims)
    {
        Assert.True(_byName.TryGetValue(name, out var tensor), $"initializer '{name}' is missing");
        Assert.Equal(expectedDims, tensor!.Dims.ToArray());
        Assert.Equal((int)TensorProto.Types.DataType.Float, tensor.DataType);
        var raw = tensor.RawData.Span;
        var values = new double[raw.Length / sizeof(float)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * sizeof(float))..]);
        }
        return values;
    }
}
