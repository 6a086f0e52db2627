using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Tests.Support;
using Xunit.Abstractions;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// Every node of every real ONNX Runtime training graph in ../shared/onnx-testdata/ort-training
/// (training, eval and optimizer models, ORTModule graphs) must have a kernel in stock ONNX
/// Runtime 1.31.1 or in the project's library, judged node by node by <see cref="KernelProbe"/>
/// with the graph's own types; only YieldOp, ATen and AdamWOptimizer are exempt.
/// </summary>
public class TrainingGraphCoverageTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void EveryTrainingGraphNodeHasAKernel()
    {
        string root = SharedTestData.RequireFile("ort-training");
        var results = new List<ProbeResult>();
        foreach (string path in Directory.EnumerateFiles(root, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            results.AddRange(new KernelProbe(model, Path.GetRelativePath(root, path)).ProbeAll());
        }

        foreach (var group in results.GroupBy(r => (r.OpKey, r.Source)).OrderBy(g => g.Key.Source).ThenBy(g => g.Key.OpKey, StringComparer.Ordinal))
        {
            output.WriteLine($"{group.Key.Source,-9} {group.Key.OpKey,-50} x{group.Count()}");
        }
        var problems = results.Where(r => r.Source is KernelSource.Missing or KernelSource.Unprobed)
            .Select(r => $"{r.Model}: {r.OpKey} '{r.Node.Name}': {r.Source}: {r.Detail}")
            .ToList();
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
        Assert.Contains(results, r => r.Source == KernelSource.Library);
        Assert.True(results.Count > 500, $"only {results.Count} nodes were found");
    }

    [Fact]
    public void TheProbeReportsAnOpWithoutKernelAsMissing()
    {
        // DivGrad is a training op this library does not implement, so nothing can run it.
        var model = new TinyModel()
            .Input("dy", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float, 2)
            .Input("a", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float, 2)
            .Input("b", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float, 2)
            .Output("y", OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType.Float, 2)
            .Node("Relu", ["a"], ["r"])
            .Node("DivGrad", ["dy", "r", "b"], ["da", "db"], "com.microsoft")
            .Node("Relu", ["da"], ["y"])
            .Build();
        var results = new KernelProbe(model, "tiny").ProbeAll().ToList();
        Assert.Equal([KernelSource.Stock, KernelSource.Missing, KernelSource.Unprobed], results.Select(r => r.Source));
    }
}
