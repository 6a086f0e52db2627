namespace OnnxMemOpt.Cli;

/// <summary>The command line's exit codes (PRODUCT.md): scripts depend on them.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int InvalidInput = 3;
}
