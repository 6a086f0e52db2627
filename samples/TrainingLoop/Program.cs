// A user's own fine-tuning loop on plain ONNX Runtime sessions. OnnxMemOpt (from its packages)
// builds the LoRA training graph of a forward model, rewrites it to keep less activation memory,
// and provides the op library the session registers; the loop itself (feeds, plain SGD on the
// LoRA weights) is the user's. Usage: TrainingLoop FORWARD_MODEL.onnx [steps]. Exits 1 unless
// the loss falls on the fixed batch.
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: TrainingLoop FORWARD_MODEL.onnx [steps]");
    return 2;
}
int steps = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20;
const int Batch = 4;
const float LearningRate = 0.05f;

// 1. The training graph: LoRA adapters on every linear, cross-entropy on the model's logits.
OnnxModel forward = OnnxModel.Load(args[0]);
OnnxModel training = TrainingGraphBuilder.Build(forward, new TrainingGraphOptions { Trainable = TrainableSet.Lora, LoraRank = 4 });

// 2. The memory-efficient rewrite, with what it did and what it refused.
PassResult rewrite = MemoryPasses.Run(training, MemoryPasses.All);
foreach (var group in rewrite.Rewrites.GroupBy(r => r.Pass)) Console.WriteLine($"{group.Key}: {group.Count()} substitutions");
foreach (SkipRecord skipped in rewrite.Skipped.Take(3)) Console.WriteLine($"refused {skipped.Pass} at {skipped.Node}: {skipped.Reason}");
string graphPath = Path.Combine(Path.GetTempPath(), $"training-loop-sample-{Environment.ProcessId}.onnx");
training.Save(graphPath);

// 3. A plain session with the library registered. (ONNX Runtime warns about every parameter that is
// both an input and an initializer: that is how a training graph lets the loop override it.)
OrtEnv.Instance().EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
using var session = new InferenceSession(graphPath, options);
File.Delete(graphPath);

// Parameters are the inputs with a "<name>_grad" output; their initial values are the initializers.
var gradients = session.OutputMetadata.Keys.Where(o => o.EndsWith("_grad", StringComparison.Ordinal)).ToHashSet();
var parameters = training.Proto.Graph.Initializer
    .Where(t => gradients.Contains(t.Name + "_grad"))
    .ToDictionary(t => t.Name, t => new DenseTensor<float>(TensorData.ToFloats(t, training), t.Dims.Select(d => (int)d).ToArray()));

// One fixed batch: standard-normal floats, labels below the logits' class count.
var random = new Random(7);
int classes = (int)forward.Proto.Graph.Output[0].Type.TensorType.Shape.Dim[^1].DimValue;
var batch = new List<NamedOnnxValue>();
foreach (var (name, meta) in session.InputMetadata.Where(i => !parameters.ContainsKey(i.Key)))
{
    int[] shape = meta.Dimensions.Select(d => d < 0 ? Batch : d).ToArray();
    int count = shape.Aggregate(1, (a, b) => a * b);
    batch.Add(meta.ElementType == typeof(long)
        ? NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(Enumerable.Range(0, count).Select(_ => (long)random.Next(classes)).ToArray(), shape))
        : NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(Enumerable.Range(0, count).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray(), shape)));
}

// 4. The loop: run the graph, step every LoRA weight against its gradient.
var losses = new List<float>();
for (int step = 0; step < steps; step++)
{
    var feeds = batch.Concat(parameters.Select(p => NamedOnnxValue.CreateFromTensor(p.Key, p.Value))).ToList();
    using var results = session.Run(feeds);
    float loss = results.First(r => r.Name == "loss").AsEnumerable<float>().First();
    losses.Add(loss);
    foreach (var result in results.Where(r => gradients.Contains(r.Name)))
    {
        DenseTensor<float> weight = parameters[result.Name[..^"_grad".Length]];
        int i = 0;
        foreach (float g in result.AsEnumerable<float>()) weight.Buffer.Span[i++] -= LearningRate * g;
    }
    Console.WriteLine($"step {step + 1,3}  loss {loss:F6}");
}
bool fell = losses[^1] < losses[0];
Console.WriteLine(fell ? $"loss fell from {losses[0]:F6} to {losses[^1]:F6}" : "the loss did not fall");
return fell ? 0 : 1;
