using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Runtime.Verification;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt gradcheck TRAINING_MODEL [--params N]`: compares the graph's gradients with
/// central finite differences of its loss on N sampled parameter elements, on ONNX Runtime with
/// the project's library. By default the comparison runs on a float64 copy of the graph (float32
/// rounding would swamp small gradients); the report says which precision was used.
/// </summary>
internal static class GradcheckCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument("TRAINING_MODEL", "A training graph: parameters as inputs with initializers and '<param>_grad' outputs, and a 'loss' output.");
        var count = new Option<int>("--params") { Description = "Number of parameter elements to check.", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "Seed for the random inputs and the sample.", DefaultValueFactory = _ => 1234 };
        var float32 = new Option<bool>("--float32") { Description = "Check the graph in its own precision instead of a float64 copy." };
        var randomizeZero = new Option<double>("--randomize-zero") { Description = "Replace all-zero parameters (LoRA B) by uniform values in ±this, so that every factor has a non-trivial gradient.", DefaultValueFactory = _ => 0.0 };
        var tolerance = new Option<double?>("--tolerance") { Description = "Exit with code 1 when the worst relative error exceeds this." };
        var command = new Command("gradcheck", "Compare a training graph's gradients with finite differences of its loss.");
        command.Arguments.Add(model);
        foreach (Option option in new Option[] { count, seed, float32, randomizeZero, tolerance }) command.Options.Add(option);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n < 1) throw new UsageException("--params must be at least 1");
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            OnnxModel loaded = OnnxModel.Load(parse.GetValue(model)!);
            var dims = common.BindingsFor(parse, loaded);
            GradientChecker checker = parse.GetValue(float32)
                ? new GradientChecker(loaded, dims, parse.GetValue(seed), parse.GetValue(randomizeZero))
                : GradientChecker.PreferringFloat64(loaded, dims, parse.GetValue(seed), parse.GetValue(randomizeZero));
            bool useFloat64 = checker.Float64;
            GradientCheckResult result;
            double lossValue;
            using (checker)
            {
                result = checker.Check(checker.Sample(n));
                lossValue = checker.Loss();
            }
            Report(io, parse.GetValue(common.Json), loaded.FileName, useFloat64, lossValue, result);
            return parse.GetValue(tolerance) is { } limit && !(result.MaxRelErr <= limit) ? ExitCodes.Failure : ExitCodes.Success;
        });
        return command;
    }

    /// <summary>JSON has no NaN or infinity: such a value (a diverged loss) is written as null.</summary>
    private static JsonNode? Finite(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    private static void Report(CommandIO io, bool json, string file, bool float64, double loss, GradientCheckResult result)
    {
        if (json)
        {
            var samples = new JsonArray();
            foreach (GradientSample s in result.Samples)
            {
                samples.Add(new JsonObject
                {
                    ["parameter"] = s.Parameter, ["index"] = s.Index, ["gradient"] = Finite(s.Analytic), ["finite_difference"] = Finite(s.Numeric), ["rel_err"] = Finite(s.RelErr),
                });
            }
            var report = new JsonObject
            {
                ["model"] = file,
                ["precision"] = float64 ? "float64" : "model",
                ["loss"] = Finite(loss),
                ["max_rel_err"] = Finite(result.MaxRelErr),
                ["checked"] = result.Checked,
                ["samples"] = samples,
            };
            io.Out.WriteLine(report.ToJsonString(JsonOutput.Options));
            return;
        }
        io.Out.WriteLine($"{file}: loss {loss:G6}, {result.Checked} elements checked ({(float64 ? "float64 copy" : "model precision")}), worst relative error {result.MaxRelErr:E3}");
        foreach (GradientSample s in result.Samples.OrderByDescending(s => s.RelErr).Take(5))
        {
            io.Out.WriteLine($"  {s.Parameter}[{s.Index}]: gradient {s.Analytic:E6}, finite difference {s.Numeric:E6}, rel err {s.RelErr:E2}");
        }
    }
}
