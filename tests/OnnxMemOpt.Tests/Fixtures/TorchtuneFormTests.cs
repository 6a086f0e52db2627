using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>
/// The LLaMA fixture against a real export (torchtune's llama2, ../shared/onnx-testdata): in the scopes
/// the memory rewrites touch, node names, op types, attributes and wiring are the same. Constant
/// operands are compared by value (the numbering of Constant nodes differs).
/// </summary>
public sealed class TorchtuneFormTests
{
    private static readonly string[] ComparedScopes =
        ["/layers.0/sa_norm/", "/layers.0/mlp_norm/", "/layers.0/mlp/", "/layers.0/mlp/activation/", "/layers.0/mlp/w1/",
         "/layers.0/mlp/w2/", "/layers.0/mlp/w3/", "/layers.0/attn/q_proj/", "/layers.0/", "/norm/", "/output/"];

    [SkippableFact]
    public void NormAndMlpScopesMatchTorchtuneExport()
    {
        string path = SharedTestData.RequireFile("forward/torchtune_llama2_forward.onnx");
        var real = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        // As many blocks as the export has, so that the final norm reads the same "/layers.N/Add_1" value.
        int blocks = real.Node.Count(n => n.OpType == "Add" && n.Name.EndsWith("/Add_1", StringComparison.Ordinal) && n.Name.StartsWith("/layers.", StringComparison.Ordinal));
        var ours = LlamaModel.Build(new LlamaOptions { Blocks = blocks, WeightsBehindTranspose = true }).Graph;

        foreach (string scope in ComparedScopes)
        {
            Assert.Equal(Describe(real, scope), Describe(ours, scope));
        }
    }

    [SkippableFact]
    public void AttentionCoreMatchesTorchtuneExport()
    {
        string path = SharedTestData.RequireFile("forward/torchtune_llama2_forward.onnx");
        var real = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        var ours = LlamaModel.Build(new LlamaOptions()).Graph;
        string[] core = ["Trilu", "Equal", "Where", "MatMul", "Add", "Softmax"];

        // Rotary embedding and shape arithmetic differ; the mask, scores and softmax chain must not.
        string[] Chain(GraphProto g) => [.. g.Node
            .Where(n => core.Contains(n.OpType) && n.Name.StartsWith("/layers.0/attn/", StringComparison.Ordinal) && !n.Name["/layers.0/attn/".Length..].Contains('/'))
            .Select(n => $"{n.Name} {n.OpType} {string.Join(",", n.Attribute.Select(a => $"{a.Name}={a.I}"))}")];
        Assert.Equal(Chain(real), Chain(ours));
    }

    private static List<string> Describe(GraphProto graph, string scope)
    {
        // A Constant operand is described by its type, shape and bytes, not by its node's name.
        var constants = graph.Node.Where(n => n.OpType == "Constant").ToDictionary(
            n => n.Output[0],
            n => n.Attribute[0].T is var t ? $"constant<{t.DataType}[{string.Join(",", t.Dims)}]{Convert.ToHexString(t.RawData.Span)}>" : "",
            StringComparer.Ordinal);
        return [.. graph.Node
            .Where(n => n.OpType != "Constant" && n.Name.StartsWith(scope, StringComparison.Ordinal) && !n.Name[scope.Length..].Contains('/'))
            .Select(n =>
                $"{n.Name} {n.OpType}({string.Join(", ", n.Input.Select(i => constants.GetValueOrDefault(i, i)))}) " +
                string.Join(" ", n.Attribute.Select(a => $"{a.Name}={a.I}[{string.Join(",", a.Ints)}]")))];
    }
}
