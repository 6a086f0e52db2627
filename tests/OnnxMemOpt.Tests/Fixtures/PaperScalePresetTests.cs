using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Building;
using OnnxMemOpt.Onnx.Proto;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// The paper-scale presets build in memory with the published architectures' parameter counts
/// (they are never written to disk: hundreds of MB of weights).
/// </summary>
public sealed class PaperScalePresetTests(ITestOutputHelper output)
{
    [Fact]
    public void VitB16HasViTBase16ParameterCount()
    {
        // timm vit_base_patch16_224 has 86,567,656 parameters; this stack takes the class token as
        // token 0 of its input instead of a 768-element cls_token parameter.
        Assert.Equal(86_567_656 - 768, CountParameters("vit-b16"));
    }

    [Fact]
    public void RobertaBaseHasRobertaBaseParameterCount()
    {
        // HF RobertaForSequenceClassification(roberta-base, 2 labels) has 124,647,170 parameters with
        // 514 position rows; this preset keeps seq 128 + 2 rows.
        Assert.Equal(124_647_170 - (514 - 130) * 768, CountParameters("roberta-base"));
    }

    [Fact]
    public void LlamaPresetHasItsParameterCount()
    {
        const long d = 1024, mlp = 2816, vocab = 32000, blocks = 8;
        long perBlock = 4 * d * d + 3 * d * mlp + 2 * d;
        Assert.Equal(blocks * perBlock + 2 * vocab * d + d, CountParameters("llama"));
    }

    private long CountParameters(string preset)
    {
        long start = Environment.TickCount64;
        var model = FixtureCatalog.Build(preset);
        long count = 0;
        foreach (var tensor in model.Graph.Initializer)
        {
            Assert.Equal((int)TensorProto.Types.DataType.Float, tensor.DataType);
            long elements = Tensors.ElementCount([.. tensor.Dims]);
            Assert.Equal(elements * sizeof(float), tensor.RawData.Length);
            count += elements;
        }
        output.WriteLine($"{preset}: {count:N0} parameters, {model.Graph.Node.Count} nodes, built in {Environment.TickCount64 - start} ms");
        return count;
    }
}
