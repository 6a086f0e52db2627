using Microsoft.ML.OnnxRuntime;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Memory.Runtime;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>The runtime arena estimate for one model, or why there is none.</summary>
/// <param name="Bytes">The estimated CPU arena peak of one step; null when there is no estimate.</param>
/// <param name="Problem">Why there is no estimate (an unbound dim, a size the runtime's graph leaves unknown, a model ONNX Runtime refuses).</param>
public sealed record RuntimeArenaPeakResult(long? Bytes, string? Problem);

/// <summary>
/// The estimate the bench reports beside its measured peak (`--runtime-peak` of inspect and rewrite).
/// ONNX Runtime optimises the graph as a trainer's session would (custom ops registered,
/// ORT_ENABLE_ALL, memory pattern and pre-packing off) and writes it; <see cref="RuntimeArenaEstimate"/>
/// replays the runtime's execution order, buffer sharing and BFC arena on it. It counts the CPU arena
/// only: graph inputs and outputs are taken as bound by the caller, initializers live outside the
/// arena. Nothing is run. Symbolic input dims are fixed to their bound values first, because the
/// runtime plans buffer reuse only for static shapes.
/// </summary>
public static class RuntimeArenaPeak
{
    private static readonly TrainerOptions SessionLikeBench = new()
    {
        EnableMemoryPattern = false,
        SessionConfig = new Dictionary<string, string> { ["session.disable_prepacking"] = "1" },
    };

    /// <summary>The estimate for <paramref name="model"/> with every symbolic input dim bound by <paramref name="dims"/>.</summary>
    public static RuntimeArenaPeakResult Of(OnnxModel model, DimBindings dims)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dims);
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
