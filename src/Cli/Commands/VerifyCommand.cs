using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Runtime.Verification;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt verify ORIGINAL REWRITTEN`: parses the options, runs <see cref="RewriteVerifier"/>
/// and renders its report as a table or JSON. A gradient that is exactly zero on both sides (LoRA A
/// while B is zero) has no cosine: it is shown as "zero in both".
/// </summary>
internal static class VerifyCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var original = CommonOptions.ModelArgument("ORIGINAL", "The model before rewriting (or its artifact set's folder).");
        var rewritten = CommonOptions.ModelArgument("REWRITTEN", "The rewritten model (or its artifact set's folder).");
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs.", DefaultValueFactory = _ => 1 };
        var data = new Option<string?>("--data") { Description = "Take the inputs this file holds (train's --data JSON format) instead of random ones; the others stay random." };
        var intBound = new Option<int>("--int-bound") { Description = "Integer inputs are drawn from [0, N) (token ids, labels); inputs named *mask* are all 1.", DefaultValueFactory = _ => 2 };
        var random = new Option<string>("--random") { Description = "How random ops (Dropout, RandomUniform, ...) are made deterministic in both graphs: seed (a fixed seed per node name) or zero-dropout (Dropout at ratio 0).", DefaultValueFactory = _ => "seed" };
        random.AcceptOnlyFromAmong("seed", "zero-dropout");
        var command = new Command("verify", "Compare a rewritten model's forward outputs and gradients with the original's on ONNX Runtime.");
        command.Arguments.Add(original);
        command.Arguments.Add(rewritten);
        command.Options.Add(seed);
        command.Options.Add(intBound);
        command.Options.Add(random);
        command.Options.Add(data);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            VerifiedModel before = RewriteVerifier.Load(parse.GetValue(original)!);
            VerifiedModel after = RewriteVerifier.Load(parse.GetValue(rewritten)!);
            var options = new VerifyOptions
            {
                Seed = parse.GetValue(seed),
                IntegerBound = parse.GetValue(intBound),
                RandomOps = parse.GetValue(random) == "zero-dropout" ? RandomOpPolicy.ZeroRatio : RandomOpPolicy.FixedSeed,
                Dims = common.BindingsFor(parse, before.Model, after.Model),
                DataFile = parse.GetValue(data),
            };
            VerificationReport report = RewriteVerifier.Verify(before, after, options);
            if (parse.GetValue(common.Json)) io.Out.WriteLine(Json(report).ToJsonString(JsonOutput.Options));
            else Render(MemoryReport.Console(io.Out), report);
            return ExitCodes.Success;
        });
        return command;
    }

    private static JsonObject Json(VerificationReport report)
    {
        var gradients = new JsonArray();
        foreach (GradientVerdict gradient in report.Gradients)
        {
            JsonObject row = Agreement(gradient.Agreement);
            row["name"] = gradient.Name;
            row["norm"] = JsonOutput.Number(gradient.Norm);
            if (report.StepDerivatives is not null) row["method_rel_err"] = gradient.MethodRelativeError is { } v ? JsonOutput.Number(v) : null;
            gradients.Add(row);
        }
        var json = new JsonObject
        {
            ["forward_max_rel_diff"] = JsonOutput.Number(report.ForwardMaxRelativeDifference),
            ["gradients"] = gradients,
            ["artifacts"] = report.Artifacts,
            ["random_ops"] = report.RandomOps.Describe(),
        };
        if (report.StepDerivatives is { } method) json["method_reference"] = method.Describe();
        if (report.Activations.Count > 0) json["activations"] = new JsonArray([.. report.Activations.Select(a => (JsonNode?)ActivationJson(a))]);
        return json;
    }

    private static void Render(IAnsiConsole console, VerificationReport report)
    {
        console.MarkupLine($"forward max relative difference: {report.ForwardMaxRelativeDifference:E3}");
        console.MarkupLine(Markup.Escape($"random ops: {report.RandomOps.Describe()}"));
        bool method = report.StepDerivatives is not null;
        var table = new Table().AddColumn("gradient").AddColumn(new TableColumn("cosine").RightAligned()).AddColumn(new TableColumn("relative error").RightAligned());
        if (method) table.AddColumn(new TableColumn("vs the 2-bit step derivative").RightAligned());
        foreach (GradientVerdict gradient in report.Gradients)
        {
            var cells = new List<string> { Markup.Escape(gradient.Name), CosineCell(gradient.Agreement), $"{gradient.Agreement.RelativeError:E3}" };
            if (method) cells.Add(gradient.MethodRelativeError is { } v ? $"{v:E3}" : "-");
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        if (report.StepDerivatives is { } step)
        {
            console.MarkupLine(Markup.Escape(step.Reason is null
                ? "ReGELU2/ReSiLU2 change gradients by design; the last column compares with the original graph using the method's step derivatives, which the rewrite must match to float rounding."
                : $"no step-derivative reference: {step.Reason}"));
        }
        if (report.Activations.Count > 0)
        {
            var perActivation = new Table().AddColumn("2-bit activation").AddColumn("table")
                .AddColumn(new TableColumn("dX cosine vs dY·h′(x)").RightAligned())
                .AddColumn(new TableColumn("dX cosine vs the original's").RightAligned());
            foreach (ActivationGradient a in report.Activations)
            {
                perActivation.AddRow(Markup.Escape(a.Node), Markup.Escape(a.Table), CosineCell(a.Local), a.Propagated is { } p ? CosineCell(p) : "-");
            }
            console.Write(perActivation);
            console.MarkupLine(Markup.Escape("The first cosine compares each activation's dX with the exact derivative times the same dY: the error of its step table alone. The second compares with the original run's dX, which also carries what later layers' approximations did to dY."));
        }
    }

    /// <summary>cosine and rel_err, or for a gradient that is all zeros on either side cosine null and what is zero.</summary>
    private static JsonObject Agreement(GradientAgreement agreement)
    {
        var row = new JsonObject
        {
            ["cosine"] = agreement.Cosine is { } c ? JsonOutput.Number(c) : null,
            ["rel_err"] = JsonOutput.Number(agreement.RelativeError),
        };
        if (agreement.ZeroNote is { } note) row["zero"] = note;
        return row;
    }

    private static JsonObject ActivationJson(ActivationGradient a)
    {
        JsonObject row = Agreement(a.Local);
        row["node"] = a.Node;
        row["gradient"] = a.Gradient;
        row["kind"] = a.Kind.ToString().ToLowerInvariant();
        row["table"] = a.Table;
        row["elements"] = a.Elements;
        row["propagated_cosine"] = a.Propagated?.Cosine is { } p ? JsonOutput.Number(p) : null;
        return row;
    }

    private static string CosineCell(GradientAgreement agreement) => agreement.ZeroNote ?? $"{agreement.Cosine:F6}";
}
