using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Runtime.Artifacts;

/// <summary>
/// optimizer_model.onnx as ONNX Runtime's artifact generator wrote it: one com.microsoft
/// AdamWOptimizer node over the inputs ONNX Runtime's training API feeds by name
/// (training_api/optimizer.cc): learning_rate float[1], step int64[1], then params, gradients,
/// first_order_moments and second_order_moments, each a sequence of float tensors; its one output
/// is the updated flag.
/// </summary>
public static class OptimizerModel
{
    /// <summary>The file name ONNX Runtime's generator and training API use for the optimizer model.</summary>
    public const string FileName = "optimizer_model.onnx";

    /// <summary>The inputs in the order ONNX Runtime checks them.</summary>
    public static readonly IReadOnlyList<string> InputNames =
        ["learning_rate", "step", "params", "gradients", "first_order_moments", "second_order_moments"];

    /// <summary>
    /// The attributes ONNX Runtime's generator gave AdamW (onnxblock's AdamW defaults, as in
    /// ../shared's mlp-artifacts/adamw.onnx): β 0.9/0.999, ε 1e-6, no weight decay, Hugging Face mode, bias correction.
    /// </summary>
    public static AdamWSettings GeneratorDefaults { get; } = new()
    {
        Alpha = 0.9f,
        Beta = 0.999f,
        Epsilon = 1e-6f,
        WeightDecay = 0f,
        AdamMode = 1,
        CorrectBias = true,
    };

    /// <summary>Builds the optimizer model with <paramref name="settings"/> as the AdamWOptimizer node's attributes.</summary>
    /// <exception cref="ArgumentException">The settings are outside what AdamWOptimizer accepts (see <see cref="AdamWSettings.Validate"/>).</exception>
    public static ModelProto Create(AdamWSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var node = new NodeProto { OpType = AdamWSettings.OpType, Domain = AdamWSettings.Domain, Name = "AdamWOptimizer0" };
        node.Input.AddRange(InputNames);
        node.Output.Add("updated_flag");
        node.Attribute.Add(Float("alpha", settings.Alpha));
        node.Attribute.Add(Float("beta", settings.Beta));
        node.Attribute.Add(Float("epsilon", settings.Epsilon));
        node.Attribute.Add(Float("weight_decay", settings.WeightDecay));
        node.Attribute.Add(Int("adam_mode", settings.AdamMode));
        node.Attribute.Add(Int("correct_bias", settings.CorrectBias ? 1 : 0));

        var graph = new GraphProto { Name = "AdamWOptimizer" };
        graph.Node.Add(node);
        graph.Input.Add(ArtifactValues.Tensor("learning_rate", (int)TensorProto.Types.DataType.Float, [1]));
        graph.Input.Add(ArtifactValues.Tensor("step", (int)TensorProto.Types.DataType.Int64, [1]));
        foreach (string sequence in InputNames.Skip(2))
        {
            graph.Input.Add(ArtifactValues.FloatSequence(sequence));
        }
        graph.Output.Add(ArtifactValues.Tensor("updated_flag", (int)TensorProto.Types.DataType.Bool, [1]));

        var model = new ModelProto { IrVersion = ArtifactValues.IrVersion, ProducerName = ArtifactValues.Producer, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = AdamWSettings.Domain, Version = 1 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = ArtifactValues.DefaultOnnxOpset });
        return model;
    }

    private static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
