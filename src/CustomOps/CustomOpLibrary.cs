using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace OnnxMemOpt.CustomOps;

/// <summary>
/// Locates libonnxmemopt_ops (the OnnxMemOpt.CustomOps package's native asset, or this repository's
/// CMake build copied beside the managed assemblies) and registers it on session options. The
/// library provides the paper's ops in domain com.onnxmemopt and ONNX Runtime's training ops in
/// com.microsoft.
/// </summary>
public static class CustomOpLibrary
{
    /// <summary>The native library's file name, as CMake builds it and the package ships it under runtimes/linux-x64/native.</summary>
    public const string FileName = "libonnxmemopt_ops.so";
    /// <summary>The ONNX operator domain of the paper's ops (ReGelu2, ReSilu2, MsLayerNorm, MsRmsNorm and their gradients); rewritten graphs import it.</summary>
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

    /// <summary>Environment variable that names the library's path explicitly (a custom build, a CUDA-enabled copy).</summary>
    public const string PathVariable = "ONNXMEMOPT_OPS_LIBRARY";

    /// <summary>
    /// Where the library may be, in the order looked at: the path in <see cref="PathVariable"/>;
    /// beside the app (a RID-specific build copies NuGet's runtimes/linux-x64/native asset to the
    /// output folder, as this repository's own builds do); under runtimes/&lt;rid&gt;/native below
    /// the app (a portable build, and a packed dotnet tool, keep NuGet's layout); and the same two
    /// beside this assembly, for hosts that load it from elsewhere.
    /// </summary>
    public static IReadOnlyList<string> Candidates()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } explicitPath)
        {
            candidates.Add(explicitPath);
        }
        string?[] folders = [AppContext.BaseDirectory, System.IO.Path.GetDirectoryName(typeof(CustomOpLibrary).Assembly.Location)];
        string[] rids = [RuntimeInformation.RuntimeIdentifier, "linux-x64"];
        foreach (string folder in folders.OfType<string>().Where(f => f.Length > 0).Distinct(StringComparer.Ordinal))
        {
            candidates.Add(System.IO.Path.Combine(folder, FileName));
            candidates.AddRange(rids.Distinct(StringComparer.Ordinal).Select(rid => System.IO.Path.Combine(folder, "runtimes", rid, "native", FileName)));
        }
        return candidates;
    }

    private static string FindLibrary()
    {
        IReadOnlyList<string> candidates = Candidates();
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } explicitPath && !File.Exists(explicitPath))
        {
            throw new FileNotFoundException($"{PathVariable} names {explicitPath}, which does not exist.", explicitPath);
        }
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"{FileName} was not found (looked in: {string.Join(", ", candidates)}). Reference the OnnxMemOpt.CustomOps package, or build src/CustomOps (it runs CMake).",
                FileName);
    }
}
