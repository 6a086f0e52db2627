using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>
/// `onnxmemopt rewrite MODEL -o OUT [--passes LIST]`. `--passes none` parses the model into the IR
/// and serialises it again, which must reproduce the input byte for byte.
/// </summary>
internal static class RewriteCommand
{
    /// <summary>Pass names of the contract; each is implemented by the rewriter (issue 6).</summary>
    public static readonly string[] KnownPasses = ["fuse", "regelu2", "resilu2", "msln", "msrms"];

    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument();
        var output = new Option<string>("--output", "-o") { Description = "Where to write the rewritten model.", Required = true };
        var passes = new Option<string>("--passes") { Description = "Comma-separated passes: fuse, regelu2, resilu2, msln, msrms, or none (default: all that apply)." };
        var command = new Command("rewrite", "Rewrite a training graph to keep less memory for the backward pass.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        command.Options.Add(passes);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            common.BindingsFrom(parse);
            string[] selected = ParsePasses(parse.GetValue(passes));
            OnnxModel loaded = OnnxModel.Load(parse.GetValue(model)!);
            _ = loaded.Graph; // the IR is built over the document: what is saved is what the IR holds
            if (selected.Length > 0)
            {
                throw new NotSupportedException($"passes {string.Join(", ", selected)} are not available in this build yet; use --passes none");
            }
            string path = parse.GetValue(output)!;
            loaded.Save(path);
            if (parse.GetValue(common.Json))
            {
                var result = new JsonObject
                {
                    ["input"] = loaded.FileName,
                    ["output"] = path,
                    ["passes"] = new JsonArray(),
                    ["rewrites"] = new JsonArray(),
                    ["skipped"] = new JsonArray(),
                    ["memory_before"] = null,
                    ["memory_after"] = null,
                };
                io.Out.WriteLine(result.ToJsonString(JsonOutput.Options));
            }
            else
            {
                io.Out.WriteLine($"wrote {path} (no passes applied)");
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static string[] ParsePasses(string? list)
    {
        if (list is null)
        {
            return KnownPasses;
        }
        string[] names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names is ["none"])
        {
            return [];
        }
        foreach (string name in names)
        {
            if (!KnownPasses.Contains(name))
            {
                throw new UsageException($"unknown pass '{name}'; choose from {string.Join(", ", KnownPasses)} or none");
            }
        }
        return names;
    }
}
