using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // ONNX Runtime's warnings (e.g. "initializer appears in graph inputs", which every training
        // graph with trainable initializers triggers) would bury the command's own output; real
        // failures still surface as exceptions that the command line reports in one line.
        OrtEnv.Instance().EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        return CommandLine.Run(args);
    }
}
