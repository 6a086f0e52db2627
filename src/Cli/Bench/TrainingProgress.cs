using Spectre.Console;

namespace OnnxMemOpt.Cli.Bench;

/// <summary>
/// Shows training progress: a Spectre.Console progress display with one bar per configuration when
/// the output is an interactive terminal, otherwise plain lines on stderr ("baseline step 3/10 loss
/// 0.6931"), so that logs, CI and `--json` runs stay readable and stdout stays clean.
/// </summary>
internal static class TrainingProgress
{
    /// <summary>Runs <paramref name="work"/>, handing it the callback to call after each optimizer step.</summary>
    public static T Run<T>(CommandIO io, bool interactive, IReadOnlyList<string> configurations, int steps, Func<Action<string, int, float>, T> work)
    {
        if (!interactive)
        {
            int every = Math.Max(1, steps / 10);
            return work((name, step, loss) =>
            {
                if ((step + 1) % every == 0 || step + 1 == steps)
                {
                    io.Error.WriteLine($"{name} step {step + 1}/{steps} loss {loss:F4}");
                }
            });
        }
        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var tasks = configurations.ToDictionary(c => c, c => context.AddTask(c, maxValue: Math.Max(1, steps)), StringComparer.Ordinal);
                return work((name, step, loss) =>
                {
                    ProgressTask task = tasks[name];
                    task.Description = $"{name} loss {loss:F4}";
                    task.Value = step + 1;
                });
            });
    }

    /// <summary>Interactive when the command writes to the real console, which is a terminal, and no JSON was asked for.</summary>
    public static bool IsInteractive(CommandIO io, bool json) =>
        !json && ReferenceEquals(io.Out, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
}
