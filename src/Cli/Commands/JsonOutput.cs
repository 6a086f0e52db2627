using System.Text.Json;

namespace OnnxMemOpt.Cli.Commands;

internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true };
}
