using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Fixtures.Models;
using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Fixtures;

/// <summary>The graphs have the shape of an exporter's output: names, op chains, typing, ordering.</summary>
public sealed class ExporterFormTests
{
    public static TheoryData<string> CheckedIn => [.. FixtureCatalog.CheckedIn];

    [Theory]
    [MemberData(nameof(CheckedIn))]
    public void GraphIsWellFormedAndTyped(string name)
    {
        var graph = FixtureCatalog.Build(name).Graph;

        Assert.Empty(graph.ValueInfo);
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(graph.Input, input => initializers.Contains(input.Name));
        foreach (var value in graph.Input.Concat(graph.Output))
        {
            var tensor = value.Type.TensorType;
            Assert.NotEqual((int)TensorProto.Types.DataType.Undefined, tensor.ElemType);
            Assert.NotEmpty(tensor.Shape.Dim);
            Assert.All(tensor.Shape.Dim, d => Assert.True(d.HasDimValue || d.DimParam == "batch", $"{value.Name} has an untyped dim"));
        }

        // Topological order, unique node names, one producer per value, exporter-style output names.
        var available = new HashSet<string>(initializers.Concat(graph.Input.Select(i => i.Name)), StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var nodeNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            Assert.True(nodeNames.Add(node.Name), $"duplicate node name {node.Name}");
            Assert.StartsWith("/", node.Name);
            Assert.All(node.Input, input => Assert.True(available.Contains(input), $"{node.Name} reads {input} before it exists"));
            string produced = Assert.Single(node.Output);
            Assert.True(produced == $"{node.Name}_output_0" || graphOutputs.Contains(produced), $"{node.Name} writes {produced}");
            Assert.True(available.Add(produced), $"{produced} is produced twice");
        }
        Assert.All(graphOutputs, o => Assert.Contains(o, available));
    }

    [Fact]
    public void OpsetsMatchTheExporters()
    {
        Assert.Equal(17, Assert.Single(FixtureCatalog.Build("vit-tiny").OpsetImport).Version);
        Assert.Equal(17, Assert.Single(FixtureCatalog.Build("roberta-tiny").OpsetImport).Version);
        Assert.Equal(14, Assert.Single(FixtureCatalog.Build("llama-tiny").OpsetImport).Version);
    }

    [Fact]
    public void VitBlockHasTheExportedChains()
    {
        var options = FixtureCatalog.VitTiny;
        var graph = VitModel.Build(options).Graph;

        Assert.Equal(["ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"], OpsInScope(graph, "/blocks.0/norm1/"));
        Assert.Equal(["Div", "Erf", "Add", "Mul", "Mul"], OpsInScope(graph, "/blocks.0/mlp/act/"));
        var q = Node(graph, "/blocks.0/attn/q/MatMul");
        Assert.Equal(["/blocks.0/norm1/Add_1_output_0", "blocks.0.attn.q.weight"], q.Input);
        Assert.Equal(["blocks.0.attn.q.bias", "/blocks.0/attn/q/MatMul_output_0"], Node(graph, "/blocks.0/attn/q/Add").Input);
        Assert.Equal(options.Blocks, Count(graph, "Erf"));
        Assert.Equal(options.Blocks, Count(graph, "Softmax"));
        Assert.Equal(2 * (2 * options.Blocks + 1), Count(graph, "ReduceMean"));
        Assert.Equal(2 + 8 * options.Blocks, Count(graph, "MatMul"));
        Assert.Equal("logits", Node(graph, "/head/Add").Output.Single());
    }

    [Fact]
    public void LlamaBlockHasTheExportedChains()
    {
        var options = FixtureCatalog.LlamaTiny;
        var graph = LlamaModel.Build(options).Graph;

        Assert.Equal(["Cast", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Mul"], OpsInScope(graph, "/layers.0/sa_norm/"));
        Assert.Equal(["Expand", "Trilu", "Equal", "Where", "Mul", "Mul", "MatMul", "Add", "Softmax", "MatMul"],
            OpsInScope(graph, "/layers.0/attn/").Where(op => op is not ("Reshape" or "Transpose" or "Shape" or "Gather" or "Unsqueeze" or "Concat")));
        Assert.Equal(["Sigmoid", "Mul"], OpsInScope(graph, "/layers.0/mlp/activation/"));
        Assert.Equal(["/layers.0/mlp/activation/Mul_output_0", "/layers.0/mlp/w3/MatMul_output_0"], Node(graph, "/layers.0/mlp/Mul").Input);
        Assert.Equal(["/layers.0/attn/output_proj/MatMul_output_0", "/layers.0/sa_norm/Cast_output_0"], Node(graph, "/layers.0/Add").Input);
        Assert.DoesNotContain(graph.Node, n => n.OpType == "Transpose" && n.Input[0].EndsWith(".weight", StringComparison.Ordinal));
        Assert.Equal(2 * options.Blocks + 1, Count(graph, "ReduceMean"));
        Assert.Equal(options.Blocks, Count(graph, "Trilu"));

        var transposed = LlamaModel.Build(options with { WeightsBehindTranspose = true }).Graph;
        Assert.Equal(["layers.0.attn.q_proj.weight"], Node(transposed, "/layers.0/attn/q_proj/Transpose").Input);
        Assert.Equal(7 * options.Blocks + 1, transposed.Node.Count(n => n.OpType == "Transpose" && n.Input[0].EndsWith(".weight", StringComparison.Ordinal)));
    }

    [Fact]
    public void RobertaLayerHasTheExportedChains()
    {
        var options = FixtureCatalog.RobertaTiny;
        var graph = RobertaModel.Build(options).Graph;

        Assert.Equal(["ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"],
            OpsInScope(graph, "/encoder/layer.0/attention/output/LayerNorm/"));
        // Post-LN: the residual Add feeds the norm, and the norm's output is the next residual.
        Assert.Equal(["/encoder/layer.0/attention/output/dense/Add_output_0", "/embeddings/LayerNorm/Add_1_output_0"],
            Node(graph, "/encoder/layer.0/attention/output/Add").Input);
        Assert.Equal(["/encoder/layer.0/output/dense/Add_output_0", "/encoder/layer.0/attention/output/LayerNorm/Add_1_output_0"],
            Node(graph, "/encoder/layer.0/output/Add").Input);
        Assert.Equal(["Div", "Erf", "Add", "Mul", "Mul"], OpsInScope(graph, "/encoder/layer.0/intermediate/intermediate_act_fn/"));
        Assert.Equal("encoder.layer.1.attention.self.query.weight", Node(graph, "/encoder/layer.1/attention/self/query/MatMul").Input[1]);
        Assert.Equal("last_hidden_state", Node(graph, $"/encoder/layer.{options.Blocks - 1}/output/LayerNorm/Add_1").Output.Single());
        Assert.Equal(2 * (2 * options.Blocks + 1), Count(graph, "ReduceMean"));
        Assert.Equal(options.Blocks, Count(graph, "Erf"));
    }

    internal static IEnumerable<string> OpsInScope(GraphProto graph, string scope) =>
        graph.Node
            .Where(n => n.OpType != "Constant" && n.Name.StartsWith(scope, StringComparison.Ordinal) && !n.Name[scope.Length..].Contains('/'))
            .Select(n => n.OpType);

    internal static NodeProto Node(GraphProto graph, string name) =>
        graph.Node.SingleOrDefault(n => n.Name == name) ?? throw new Xunit.Sdk.XunitException($"no node {name}");

    private static int Count(GraphProto graph, string opType) => graph.Node.Count(n => n.OpType == opType);
}
