using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Cli.Commands;

/// <summary>`onnxmemopt print MODEL [-o OUT]`: the model's canonical text form (<see cref="ModelText"/>), for snapshot tests and diffs.</summary>
internal static class PrintCommand
{
    public static Command Create(CommandIO io)
    {
        var common = new CommonOptions();
        var model = CommonOptions.ModelArgument();
        var output = new Option<string?>("--output", "-o") { Description = "Write the text to this file (atomically) instead of stdout." };
        var command = new Command("print", "Print the canonical, diff-friendly text form of a model: opsets, inputs and outputs with shapes, initializers as digests, nodes with attributes.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        common.AddTo(command);
        command.SetAction(parse =>
        {
            common.BindingsFrom(parse);
            OnnxModel loaded = OnnxModel.Load(parse.GetValue(model)!);
            string text = ModelText.Of(loaded);
            string? path = parse.GetValue(output);
            if (path is not null)
            {
                ModelWriter.WriteAtomically(path, stream => stream.Write(Encoding.UTF8.GetBytes(text)));
            }
            if (parse.GetValue(common.Json))
            {
                var json = new JsonObject { ["input"] = loaded.FileName, ["output"] = path, ["text"] = path is null ? text : null };
                io.Out.WriteLine(json.ToJsonString(JsonOutput.Options));
            }
            else if (path is null)
            {
                io.Out.Write(text);
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
