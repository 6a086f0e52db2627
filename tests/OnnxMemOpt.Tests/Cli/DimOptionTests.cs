using System.Text.Json.Nodes;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Cli;

/// <summary>
/// `--dim NAME=VALUE` must name a symbolic dimension of the model: torch names them after
/// `dynamic_axes` ("batch_size"), so `--dim batch=16` used to be ignored without a word. Now it is a
/// usage error (exit 2) listing the model's symbols, on every command that takes --dim. And a
/// memory figure left unknown says which symbols to bind.
/// </summary>
public class DimOptionTests
{
    private static (TempDirectory Temp, string Forward, string Training) Models()
    {
        var temp = new TempDirectory();
        string forward = temp.File("vit.onnx");
        File.WriteAllBytes(forward, Google.Protobuf.MessageExtensions.ToByteArray(ExternalDataModels.Fixture("vit-tiny", "batch_size")));
        string training = temp.File("training.onnx");
        Assert.Equal(0, CliRunner.Run("train-graph", forward, "-o", training, "--trainable", "lora").ExitCode);
        return (temp, forward, training);
    }

    [Fact]
    public void ADimThatNamesNoSymbolIsAUsageErrorListingTheSymbols()
    {
        var (temp, forward, training) = Models();
        using (temp)
        {
            string output = temp.File("out.onnx");
            string[][] commands =
            [
                ["inspect", forward],
                ["fuse", forward, "-o", output],
                ["train-graph", forward, "-o", output],
                ["rewrite", training, "-o", output],
                ["verify", training, training],
                ["gradcheck", training, "--params", "1"],
                ["bench", forward, "--steps", "1"],
            ];
            foreach (string[] command in commands)
            {
                CliRunner.Result result = CliRunner.Run([.. command, "--dim", "batch=16"]);
                string label = string.Join(' ', command);
                Assert.True(result.ExitCode == 2, $"{label}: exit {result.ExitCode}: {result.Stderr}");
                Assert.Contains("--dim 'batch'", result.Stderr, StringComparison.Ordinal);
                Assert.Contains("batch_size", result.Stderr.Replace("--dim 'batch'", "", StringComparison.Ordinal), StringComparison.Ordinal);
                Assert.False(File.Exists(output), $"{label} left an output");
            }
            // Presets are built with fixed sizes (--batch, --seq): a --dim has nothing to bind there.
            CliRunner.Result preset = CliRunner.Run("bench", "--preset", "vit-tiny", "--steps", "1", "--dim", "batch=2");
            Assert.Equal(2, preset.ExitCode);
            Assert.Contains("it has no symbolic dimensions", preset.Stderr, StringComparison.Ordinal);
            Assert.Equal(0, CliRunner.Run("inspect", forward, "--dim", "batch_size=16").ExitCode);
            Assert.Equal(2, CliRunner.Run("demo", "--dim", "batch=4").ExitCode);
        }
    }

    [Fact]
    public void AModelWithoutSymbolsSaysSo()
    {
        var error = Assert.Throws<UnknownDimensionException>(() =>
            DimBindings.Parse(["batch=2"]).RequireDeclaredIn(new HashSet<string>(), "fixed.onnx"));
        Assert.Equal("--dim 'batch': fixed.onnx has no symbolic dimension of that name; it has no symbolic dimensions", error.Message);
    }

    [Fact]
    public void UnknownEstimatesNameTheSymbolsLeftUnbound()
    {
        var (temp, _, training) = Models();
        using (temp)
        {
            JsonObject Memory(params string[] dims)
            {
                CliRunner.Result result = CliRunner.Run(["inspect", training, "--json", .. dims.SelectMany(d => new[] { "--dim", d })]);
                Assert.True(result.ExitCode == 0, result.Stderr);
                return JsonNode.Parse(result.Stdout)!["memory"]!.AsObject();
            }
            JsonObject unbound = Memory();
            Assert.Null(unbound["peak_bytes"]);
            Assert.Null(unbound["saved_activation_bytes"]);
            Assert.Equal(["batch_size"], unbound["unbound_symbols"]!.AsArray().Select(s => (string)s!));

            JsonObject bound = Memory("batch_size=2");
            Assert.True((long)bound["peak_bytes"]! > 0);
            Assert.True((long)bound["saved_activation_bytes"]! > 0);
            Assert.Empty(bound["unbound_symbols"]!.AsArray());

            CliRunner.Result text = CliRunner.Run("inspect", training);
            Assert.Contains("unknown (bind batch_size with --dim NAME=VALUE)", text.Stdout.ReplaceLineEndings(" ").Replace("  ", " ", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }
}
