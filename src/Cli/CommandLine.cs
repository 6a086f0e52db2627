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
            WriteStackWhenDebugging(stderr, e);
            return ExitCodes.InvalidInput;
        }
        catch (Exception e) when (e is UsageException or OnnxMemOpt.Graph.UnknownDimensionException)
        {
            stderr.WriteLine($"onnxmemopt: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (IsCausedByInput(e) && InputFiles(parse) is { Count: > 0 } inputs)
        {
            // The rule: a model ONNX Runtime loads never gets exit code 1. A failure past the model
            // checks, while a command processes the user's model, is that model's: it "cannot be
            // processed" (exit 3, one line naming it), not a crash. The message keeps the cause so
            // that it can be reported; ONNXMEMOPT_DEBUG=1 prints the stack.
            string files = string.Join(" and ", inputs);
            stderr.WriteLine(e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException
                ? $"onnxmemopt: {files}: ONNX Runtime failed on a graph built from it: {e.Message.ReplaceLineEndings(" ")}"
                : $"onnxmemopt: {files}: cannot be processed: internal error ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}); please report it with the model");
            WriteStackWhenDebugging(stderr, e);
            return ExitCodes.InvalidInput;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"onnxmemopt: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            WriteStackWhenDebugging(stderr, e);
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// Failures of the machine rather than of the model (a full disk, a folder not writable, memory
    /// exhausted) stay exit code 1: the same model would go through elsewhere.
    /// </summary>
    private static bool IsCausedByInput(Exception e) => e is not (IOException or UnauthorizedAccessException or OutOfMemoryException or OperationCanceledException);

    /// <summary>The files the command was given as arguments (MODEL, TRAINING_MODEL, ORIGINAL, REWRITTEN).</summary>
    private static List<string> InputFiles(ParseResult parse) =>
        [.. parse.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>()
            .SelectMany(a => a.Tokens)
            .Select(t => t.Value)
            .Where(v => File.Exists(v) || Directory.Exists(v))];

    private static void WriteStackWhenDebugging(TextWriter stderr, Exception e)
    {
        if (Environment.GetEnvironmentVariable("ONNXMEMOPT_DEBUG") is "1")
        {
            stderr.WriteLine(e.ToString());
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
        PrintCommand.Create(io),
    ];
}

/// <summary>Bad arguments discovered after parsing (e.g. a malformed --dim): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Where commands write: stdout (JSON or tables) and stderr (diagnostics).</summary>
internal sealed record CommandIO(TextWriter Out, TextWriter Error);
