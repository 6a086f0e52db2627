namespace OnnxMemOpt.Cli;

internal static class CommandLine
{
    public static int Run(string[] args) => args.Length == 0 ? 2 : 0;
}
