using System.CommandLine;
using OnnxMemOpt.Cli.Commands;
using OnnxMemOpt.Onnx;

namespace OnnxMemOpt.Cli;

/// <summary>
/// Builds the `onnxmemopt` command tree and runs it, mapping failures to the exit codes of the
/// contract: 2 for usage errors, 3 for a model that is invalid or cannot be processed (one line on
/// stderr naming the file), 1 for anything else.
/// </summary>
internal static class CommandLine
{
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("onnxmemopt: rewrite ONNX training graphs to keep less activation memory (ReGELU2, ReSiLU2, MS-LN, MS-RMSNorm) and run them on ONNX Runtime.");
        var io = new CommandIO(stdout, stderr);
        foreach (Command command in Commands(io))
        {
            root.Subcommands.Add(command);
        }

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                stderr.WriteLine($"onnxmemopt: {error.Message}");
            }
            stderr.WriteLine("Run 'onnxmemopt --help' for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (ModelException e)
        {
            stderr.WriteLine($"onnxmemopt: {e.Message}");
            return ExitCodes.InvalidInput;
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"onnxmemopt: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"onnxmemopt: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            if (Environment.GetEnvironmentVariable("ONNXMEMOPT_DEBUG") is "1")
            {
                stderr.WriteLine(e.ToString());
            }
            return ExitCodes.Failure;
        }
    }

    private static IEnumerable<Command> Commands(CommandIO io) =>
    [
        InspectCommand.Create(io),
        RewriteCommand.Create(io),
        FuseCommand.Create(io),
        TrainGraphCommand.Create(io),
        ArtifactsCommand.Create(io),
        VerifyCommand.Create(io),
        GradcheckCommand.Create(io),
        TrainCommand.Create(io),
        BenchCommand.Create(io),
        DemoCommand.Create(io),
    ];
}

/// <summary>Bad arguments discovered after parsing (e.g. a malformed --dim): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Where commands write: stdout (JSON or tables) and stderr (diagnostics).</summary>
internal sealed record CommandIO(TextWriter Out, TextWriter Error);
