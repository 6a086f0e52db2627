using System.CommandLine;
using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Memory;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>The runtime arena estimate for one model, or why there is none.</summary>
internal sealed record RuntimeArenaPeakResult(long? Bytes, string? Problem);

/// <summary>
/// `--runtime-peak` of inspect and rewrite: the estimate the bench reports beside its measured peak.
/// ONNX Runtime optimises the graph as a trainer's session would (custom ops registered,
/// ORT_ENABLE_ALL, memory pattern and pre-packing off) and writes it; <see cref="RuntimeArenaEstimate"/>
/// replays the runtime's execution order, buffer sharing and BFC arena on it. It counts the CPU arena
/// only: graph inputs and outputs are taken as bound by the caller, initializers live outside the
/// arena. Nothing is run. Symbolic input dims are fixed to their --dim values first, because the
/// runtime plans buffer reuse only for static shapes.
/// </summary>
internal static class RuntimeArenaPeak
{
    public static Option<bool> CreateOption() => new("--runtime-peak")
    {
        Description = "Also estimate ONNX Runtime's CPU arena peak of one step (the bench's estimate): the runtime optimises the graph, the estimator replays its schedule, buffer reuse and arena. Bind every symbolic input dim with --dim.",
    };

    private static readonly TrainerOptions SessionLikeBench = new()
    {
        EnableMemoryPattern = false,
        SessionConfig = new Dictionary<string, string> { ["session.disable_prepacking"] = "1" },
    };

    public static RuntimeArenaPeakResult Of(OnnxModel model, DimBindings dims)
    {
        ArgumentNullException.ThrowIfNull(model);
        OnnxModel copy = OnnxModel.FromProto(model.Proto.Clone(), model.FileName, model.BaseDirectory);
        foreach (var input in copy.Graph.Proto.Input)
        {
            foreach (var dim in input.Type?.TensorType?.Shape?.Dim ?? [])
            {
                if (dim.DimParam.Length > 0)
                {
                    if (!dims.Values.TryGetValue(dim.DimParam, out long value))
                    {
                        return new RuntimeArenaPeakResult(null, $"input '{input.Name}' has the unbound dim '{dim.DimParam}' (bind it with --dim)");
                    }
                    dim.DimValue = value;
                }
            }
        }
        string folder = Path.Combine(Path.GetTempPath(), "onnxmemopt-runtime-peak-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string modelPath = Path.Combine(folder, "model.onnx");
            copy.Save(modelPath);
            string optimized = RuntimeOptimizedGraph.Write(modelPath, SessionLikeBench, Path.Combine(folder, "optimized.onnx"));
            long? bytes = RuntimeArenaEstimate.PeakBytes(OnnxModel.Load(optimized), NodeOrderSource.WrittenByRuntime);
            return new RuntimeArenaPeakResult(bytes, bytes is null ? "a tensor size in the runtime's graph is unknown" : null);
        }
        catch (OnnxRuntimeException e)
        {
            return new RuntimeArenaPeakResult(null, $"ONNX Runtime cannot open the model: {e.Message}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
