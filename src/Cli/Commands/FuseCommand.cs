using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Sessions;
using Spectre.Console;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>`onnxmemopt fuse MODEL -o OUT`: replaces decomposed GELU / LayerNorm / RMSNorm / SiLU chains by fused ops.</summary>
internal static class FuseCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument();
        var output = new Option<string>("--output", "-o") { Description = "Where to write the fused model.", Required = true };
        var command = new Command("fuse", "Fuse decomposed GELU, LayerNorm, RMSNorm and SiLU chains into single ops.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            _ = common.BindingsFrom(parse); // a malformed --dim is a usage error before any file is read
            OnnxModel loaded = OnnxModel.Load(parse.GetValue(model)!);
            DimBindings dims = common.BindingsFor(parse, loaded);
            PassResult result = CheckedPasses.Run(loaded, [FusionPass.Name], dims, options: null, RuntimeLoadCheck.Refusal);
            string path = parse.GetValue(output)!;
            loaded.Save(path);
            if (parse.GetValue(common.Json))
            {
                var json = new JsonObject
                {
                    ["input"] = loaded.FileName,
                    ["output"] = path,
                    ["rewrites"] = MemoryReport.Rewrites(result),
                    ["skipped"] = MemoryReport.Skipped(result),
                };
                io.Out.WriteLine(json.ToJsonString(JsonOutput.Options));
            }
            else
            {
                var console = MemoryReport.Console(io.Out);
                console.MarkupLine($"wrote {Markup.Escape(path)}: {result.Rewrites.Count} fusions");
                MemoryReport.RenderResult(console, result);
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
