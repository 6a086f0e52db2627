using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes.Training.Autodiff;
using OnnxMemOpt.Passes.Training.Forms;
using OnnxMemOpt.Passes.Training.Heads;
using OnnxMemOpt.Passes.Training.Trainable;
using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Passes.Training;

/// <summary>What <see cref="TrainingGraphBuilder"/> built, besides the model itself.</summary>
/// <param name="Model">The training graph (a new model; the forward one is unchanged).</param>
/// <param name="Loss">Name of the loss output.</param>
/// <param name="Parameters">The trained parameters, in the order of the graph's inputs.</param>
/// <param name="Gradients">The gradient output of each parameter, in the same order.</param>
/// <param name="ParametersWithoutGradient">
/// Parameters the loss does not depend on: their gradient outputs are zeros.
/// </param>
/// <param name="Adapters">The LoRA adapters added; empty unless the trainable set is LoRA or LoRA-FA.</param>
public sealed record TrainingGraphResult(
    OnnxModel Model,
    string Loss,
    IReadOnlyList<string> Parameters,
    IReadOnlyList<string> Gradients,
    IReadOnlyList<string> ParametersWithoutGradient,
    IReadOnlyList<LoraAdapter> Adapters);

/// <summary>
/// Builds a training graph from a forward model, in ONNX Runtime's gradient vocabulary so that the
/// rewriter and the kernels treat it like an exported one. Steps: forward fusion; exporter forms
/// rewritten into exact equivalents the backward and memory passes know (<see cref="TrainingForms"/>); the trainable
/// set (full weights, LoRA or LoRA-FA adapters, or none); an optional classification head; the
/// loss; reverse-mode differentiation. The result's inputs are the user inputs (plus "labels" or
/// "target"), then the parameters (each also kept as an initializer holding its initial value);
/// its outputs are "loss" and then "&lt;param&gt;_grad" for each parameter, in the same order.
/// The forward model is not modified.
/// </summary>
public static class TrainingGraphBuilder
{
    /// <summary>
    /// The training graph for <paramref name="forward"/>, without the report of
    /// <see cref="BuildWithReport"/>.
    /// </summary>
    public static OnnxModel Build(OnnxModel forward, TrainingGraphOptions options) => BuildWithReport(forward, options).Model;

    /// <summary>
    /// Builds the training graph for <paramref name="forward"/> (left unchanged) and says what it
    /// holds; throws a <see cref="ModelException"/> when the model or the options cannot be trained as
    /// asked.
    /// </summary>
    public static TrainingGraphResult BuildWithReport(OnnxModel forward, TrainingGraphOptions options)
    {
        ModelProto proto = forward.Proto.Clone();
        OnnxModel model = OnnxModel.FromProto(proto, forward.FileName, forward.BaseDirectory, forward.Limits);
        options.Fusion?.Invoke(model);
        TrainingForms.Run(model, options.Dims);
        OnnxGraph graph = model.Graph;
        string output = options.Output ?? graph.OutputNames.FirstOrDefault()
            ?? throw new InvalidModelException(model.FileName, "the graph has no outputs");
        if (!graph.IsGraphOutput(output))
        {
            throw new UnsupportedModelException(model.FileName, $"'{output}' is not an output of the graph; outputs: {string.Join(", ", graph.OutputNames)}");
        }
        if (options.Trainable == TrainableSet.None && options.Head is null)
        {
            throw new UnsupportedModelException(model.FileName, "--trainable none trains only a classification head, and no head was asked for");
        }

        var parameters = new List<string>();
        IReadOnlyList<LoraAdapter> adapters = [];
        switch (options.Trainable)
        {
            case TrainableSet.Full:
                parameters.AddRange(options.Parameters ?? WeightSelection.FullSet(graph, new System.Text.RegularExpressions.Regex(options.FullExclude)));
                break;
            case TrainableSet.Lora or TrainableSet.LoraFa:
                adapters = LoraAdapters.Add(graph, options.LoraTargetRegex(), options.LoraRank, options.LoraAlpha, options.Seed);
                if (adapters.Count == 0)
                {
                    throw new UnsupportedModelException(model.FileName, $"no MatMul/Gemm weight matches the LoRA targets '{options.LoraTargets}'");
                }
                foreach (LoraAdapter adapter in adapters)
                {
                    if (options.Trainable == TrainableSet.Lora) parameters.Add(adapter.A);
                    parameters.Add(adapter.B);
                }
                break;
        }

        string lossInput = output;
        if (options.Head is { } head)
        {
            (lossInput, IReadOnlyList<string> headParameters) = ClassificationHead.Add(model, output, head, options.Seed + 1, options.Dims);
            parameters.AddRange(headParameters);
        }
        string loss = LossHead.Add(model, lossInput, options.Loss, options.Dims);
        if (options.Trainable == TrainableSet.Full && options.Parameters is null)
        {
            // Weights of branches the loss does not use (a pooler under an LM loss) were removed
            // with their dead nodes: they are not trained.
            parameters.RemoveAll(p => graph.Consumers(p).Count == 0);
        }
        PromoteToInputs(graph, parameters);

        // Reserve the gradient outputs' names before any backward value can take them.
        var gradientNames = parameters.ToDictionary(p => p, p => graph.UniqueName(GradientContext.GradName(p)), StringComparer.Ordinal);
        (model, IReadOnlyDictionary<string, string?> gradients) = BackwardPass.Run(model, parameters, loss, GradientRules.Default, options.Dims, gradientNames.Values);
        graph = model.Graph;

        var emit = new GraphEmitter(graph, "Grad/");
        var missing = new List<string>();
        foreach (string parameter in parameters)
        {
            TensorProto init = graph.Initializer(parameter)!;
            string name = gradientNames[parameter];
            if (gradients[parameter] is { } gradient)
            {
                graph.AddNode("Identity", [gradient], [name], "", graph.UniqueName("Grad/Output_" + parameter));
            }
            else
            {
                // The loss does not depend on this parameter: its gradient is exactly zero.
                missing.Add(parameter);
                var zero = TensorData.Create("value", init.DataType, [1], [0.0]);
                graph.AddNode("ConstantOfShape", [emit.Int64s(init.Dims.ToArray())], [name], "", graph.UniqueName("Grad/Zero_" + parameter),
                    new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = zero });
            }
            graph.Proto.Output.Add(GraphValues.ValueInfo(name, init));
        }
        graph.SortNodes();
        RemoveUnusedInitializers(graph);
        return new TrainingGraphResult(model, loss, parameters, parameters.Select(p => gradientNames[p]).ToList(), missing, adapters);
    }

    /// <summary>Parameters become graph inputs (after the user inputs) whose initializers hold the initial values.</summary>
    private static void PromoteToInputs(OnnxGraph graph, IEnumerable<string> parameters)
    {
        foreach (string parameter in parameters)
        {
            TensorProto tensor = graph.Initializer(parameter)
                ?? throw new UnsupportedModelException(graph.Model.FileName, $"parameter '{parameter}' is not an initializer of the graph");
            if (!graph.IsGraphInput(parameter))
            {
                graph.Proto.Input.Add(GraphValues.ValueInfo(parameter, tensor));
            }
        }
    }

    private static void RemoveUnusedInitializers(OnnxGraph graph)
    {
        foreach (string name in graph.Initializers.Keys.ToList())
        {
            if (graph.Consumers(name).Count == 0 && !graph.IsGraphOutput(name) && !graph.IsGraphInput(name))
            {
                graph.RemoveInitializer(name);
            }
        }
    }
}
