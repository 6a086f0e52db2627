using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.CustomOps;

/// <summary>
/// Locates libonnxmemopt_ops (built by this project's CMake step and copied beside the managed
/// assemblies) and registers it on session options. The library provides the paper's ops in
/// domain com.onnxmemopt and ONNX Runtime's training ops in com.microsoft.
/// </summary>
public static class CustomOpLibrary
{
    public const string FileName = "libonnxmemopt_ops.so";
    public const string Domain = "com.onnxmemopt";

    /// <summary>Full path of the native library; throws if the build did not produce it.</summary>
    public static string Path => LazyPath.Value;

    private static readonly Lazy<string> LazyPath = new(FindLibrary);

    /// <summary>
    /// The session config entry the library's RegisterCustomOps reads: "paper" registers only the
    /// paper's ops (domain com.onnxmemopt), "all" (or no entry) adds ONNX Runtime's training ops.
    /// </summary>
    public const string OpSetConfigKey = "onnxmemopt.ops";

    /// <summary>Registers the library on <paramref name="options"/> (ONNX Runtime owns the handle).</summary>
    public static SessionOptions Register(SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RegisterCustomOpLibrary(Path);
        return options;
    }

    /// <summary>
    /// Registers only the paper's ops (ReGelu2, ReSilu2, MsLayerNorm, MsRmsNorm and their gradients),
    /// for runtimes that already have ONNX Runtime's training kernels (ONNX Runtime Training builds):
    /// a second com.microsoft domain there would shadow their own. Sets <see cref="OpSetConfigKey"/>
    /// to "paper" before registering, which is what the library's entry point reads.
    /// </summary>
    public static SessionOptions RegisterPaperOps(SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AddSessionConfigEntry(OpSetConfigKey, "paper");
        options.RegisterCustomOpLibrary(Path);
        return options;
    }

    /// <summary>New CPU session options with the library registered.</summary>
    public static SessionOptions CreateSessionOptions()
    {
        var options = new SessionOptions();
        try
        {
            return Register(options);
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private static string FindLibrary()
    {
        // Beside the assembly for builds and tests; under runtimes/<rid>/native when packed as a tool.
        string baseDir = AppContext.BaseDirectory;
        string[] candidates =
        [
            System.IO.Path.Combine(baseDir, FileName),
            System.IO.Path.Combine(baseDir, "runtimes", "linux-x64", "native", FileName),
        ];
        foreach (string candidate in candidates)
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException(
            $"{FileName} was not found beside {baseDir}; build src/CustomOps (it runs CMake) first.", FileName);
    }
}
