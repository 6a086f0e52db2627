using System.Text.Json;

namespace OnnxMemOpt.Cli.Commands;

internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>
    /// A number for a JSON report, or null when it is not finite: JSON has no NaN or infinity, and
    /// a comparison of outputs that overflowed or divided by zero must still give a parseable report.
    /// </summary>
    public static System.Text.Json.Nodes.JsonNode? Number(double value) =>
        double.IsFinite(value) ? System.Text.Json.Nodes.JsonValue.Create(value) : null;
}
