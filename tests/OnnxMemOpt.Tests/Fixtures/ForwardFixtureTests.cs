using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Models;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// Each model family runs in ONNX Runtime and matches an independent float64 forward written from
/// the model's definition: proof that the exporter-form graphs compute what they claim.
/// </summary>
public sealed class ForwardFixtureTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;
    private const int Batch = 2;

    public static TheoryData<string> VitVariants => ["tiny", "fixed-batch", "3-blocks-odd-sizes"];

    [Theory]
    [MemberData(nameof(VitVariants))]
    public void VitMatchesFloat64Reference(string variant)
    {
        var options = variant switch
        {
            "fixed-batch" => FixtureCatalog.VitTiny with { Batch = Batch, Seed = 11 },
            "3-blocks-odd-sizes" => new VitOptions { Blocks = 3, Hidden = 24, Heads = 3, Mlp = 40, Tokens = 5, PatchDim = 12, Classes = 7, Seed = 12 },
            _ => FixtureCatalog.VitTiny,
        };
        var model = VitModel.Build(options);
        float[] patches = RandomFloats(Batch * options.Tokens * options.PatchDim, seed: 100);
        using var input = OrtValue.CreateTensorValueFromMemory(patches, [Batch, options.Tokens, options.PatchDim]);

        var logits = OrtForward.Run(model, new Dictionary<string, OrtValue> { ["patches"] = input })["logits"];

        Assert.Equal([Batch, options.Classes], logits.Shape);
        double error = OrtForward.RelativeError(logits.Values, VitReference.Logits(options, new ModelWeights(model), patches, Batch));
        output.WriteLine($"vit {variant}: relative error {error:E2}");
        Assert.True(error < Tolerance, $"relative error {error:E2}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LlamaMatchesFloat64Reference(bool weightsBehindTranspose)
    {
        var options = FixtureCatalog.LlamaTiny with { WeightsBehindTranspose = weightsBehindTranspose };
        var model = LlamaModel.Build(options);
        long[] ids = RandomIds(Batch * options.SeqLen, options.Vocab, seed: 200);
        using var input = OrtValue.CreateTensorValueFromMemory(ids, [Batch, options.SeqLen]);

        var logits = OrtForward.Run(model, new Dictionary<string, OrtValue> { ["input_ids"] = input })["logits"];

        Assert.Equal([Batch, options.SeqLen, options.Vocab], logits.Shape);
        double error = OrtForward.RelativeError(logits.Values, LlamaReference.Logits(options, new ModelWeights(model), ids, Batch));
        output.WriteLine($"llama transposed={weightsBehindTranspose}: relative error {error:E2}");
        Assert.True(error < Tolerance, $"relative error {error:E2}");
    }

    [Fact]
    public void LlamaIsCausal()
    {
        // Changing the last token must leave every earlier position's logits unchanged.
        var options = FixtureCatalog.LlamaTiny;
        var model = LlamaModel.Build(options);
        long[] ids = RandomIds(options.SeqLen, options.Vocab, seed: 201);
        long[] changed = [.. ids];
        changed[^1] = (changed[^1] + 1) % options.Vocab;
        using var a = OrtValue.CreateTensorValueFromMemory(ids, [1, options.SeqLen]);
        using var b = OrtValue.CreateTensorValueFromMemory(changed, [1, options.SeqLen]);

        float[] before = OrtForward.Run(model, new Dictionary<string, OrtValue> { ["input_ids"] = a })["logits"].Values;
        float[] after = OrtForward.Run(model, new Dictionary<string, OrtValue> { ["input_ids"] = b })["logits"].Values;

        int prefix = (options.SeqLen - 1) * options.Vocab;
        Assert.Equal(before[..prefix], after[..prefix]);
        Assert.NotEqual(before[prefix..], after[prefix..]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RobertaMatchesFloat64Reference(bool attentionMask)
    {
        var options = FixtureCatalog.RobertaTiny with { AttentionMask = attentionMask };
        var model = RobertaModel.Build(options);
        int seq = options.SeqLen;
        long[] ids = RandomIds(Batch * seq, options.Vocab, seed: 300);
        long[] mask = [.. Enumerable.Repeat(1L, Batch * seq)];
        // The second sequence ends in three padding tokens: position ids must skip them, the mask must hide them.
        for (int s = seq - 3; s < seq; s++)
        {
            ids[seq + s] = RobertaOptions.PaddingIdx;
            mask[seq + s] = 0;
        }
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [Batch, seq]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [Batch, seq]);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = idsValue };
        if (attentionMask)
        {
            inputs["attention_mask"] = maskValue;
        }

        var outputs = OrtForward.Run(model, inputs);

        var reference = RobertaReference.Run(options, new ModelWeights(model), ids, attentionMask ? mask : null, Batch);
        Assert.Equal([Batch, seq, options.Hidden], outputs["last_hidden_state"].Shape);
        Assert.Equal([Batch, options.Classes], outputs["logits"].Shape);
        double hiddenError = OrtForward.RelativeError(outputs["last_hidden_state"].Values, reference.LastHiddenState);
        double logitsError = OrtForward.RelativeError(outputs["logits"].Values, reference.Logits);
        output.WriteLine($"roberta mask={attentionMask}: relative error hidden {hiddenError:E2}, logits {logitsError:E2}");
        Assert.True(hiddenError < Tolerance, $"last_hidden_state relative error {hiddenError:E2}");
        Assert.True(logitsError < Tolerance, $"logits relative error {logitsError:E2}");
    }

    private static float[] RandomFloats(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
    }

    private static long[] RandomIds(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        // Ids from 2 up: in RoBERTa 1 is padding, which the tests place on purpose.
        return [.. Enumerable.Range(0, count).Select(_ => (long)random.Next(2, vocab))];
    }
}
