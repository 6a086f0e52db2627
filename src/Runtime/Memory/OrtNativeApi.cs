using System.Runtime.InteropServices;

namespace OnnxMemOpt.Runtime.Memory;

/// <summary>
/// Raw access to ONNX Runtime's C API function table for the few functions the managed package does
/// not wrap. WHY this exists: the peak-memory figure the project reports is the CPU arena's
/// MaxInUse, which only the C API's <c>AllocatorGetStats</c> returns, and Microsoft.ML.OnnxRuntime
/// 1.31.1 has no managed wrapper for it (nor for the OrtKeyValuePairs it returns). The C API is a
/// struct of function pointers (<c>OrtApi</c> in onnxruntime_c_api.h) reached through
/// <c>OrtGetApiBase()-&gt;GetApi(version)</c>; the table only ever grows at its end, so a slot index,
/// once counted, is the same in every later release. The indices below were counted in the order of
/// the 1.31.1 header (ORT_API_VERSION 31); RuntimeNativeApiTests proves each one by calling it.
/// </summary>
internal static unsafe class OrtNativeApi
{
    /// <summary>The oldest API version that has every slot used here (AllocatorGetStats arrived in 1.23).</summary>
    public const uint RequiredApiVersion = 23;

    // Slot indices in struct OrtApi (0-based, counting every function pointer member in order).
    public const int GetErrorMessageSlot = 2;
    public const int ReleaseStatusSlot = 93;
    public const int GetBuildInfoStringSlot = 254;
    public const int CreateKeyValuePairsSlot = 295;
    public const int AddKeyValuePairSlot = 296;
    public const int GetKeyValueSlot = 297;
    public const int GetKeyValuePairsSlot = 298;
    public const int ReleaseKeyValuePairsSlot = 300;
    public const int AllocatorGetStatsSlot = 319;

    private static readonly Lazy<nint> LazyApi = new(LoadApi);

    [DllImport("onnxruntime", EntryPoint = "OrtGetApiBase")]
    private static extern nint OrtGetApiBase();

    /// <summary>The version string of the loaded native runtime (OrtApiBase::GetVersionString).</summary>
    public static string RuntimeVersion
    {
        get
        {
            nint* apiBase = (nint*)OrtGetApiBase();
            var getVersion = (delegate* unmanaged<nint>)apiBase[1];
            return Marshal.PtrToStringUTF8(getVersion()) ?? string.Empty;
        }
    }

    /// <summary>The function pointer in slot <paramref name="index"/> of the OrtApi table.</summary>
    public static nint Slot(int index) => ((nint*)LazyApi.Value)[index];

    public static string BuildInfo()
    {
        var fn = (delegate* unmanaged<nint>)Slot(GetBuildInfoStringSlot);
        return Marshal.PtrToStringUTF8(fn()) ?? string.Empty;
    }

    /// <summary>Every statistic of an allocator as key/value strings (empty when it keeps none).</summary>
    public static Dictionary<string, string> AllocatorStats(nint allocator)
    {
        var getStats = (delegate* unmanaged<nint, nint*, nint>)Slot(AllocatorGetStatsSlot);
        nint pairs = 0;
        ThrowIfError(getStats(allocator, &pairs));
        try
        {
            return ReadPairs(pairs);
        }
        finally
        {
            ReleasePairs(pairs);
        }
    }

    public static Dictionary<string, string> ReadPairs(nint pairs)
    {
        var getAll = (delegate* unmanaged<nint, nint*, nint*, nuint*, void>)Slot(GetKeyValuePairsSlot);
        nint keys = 0;
        nint values = 0;
        nuint count = 0;
        getAll(pairs, &keys, &values, &count);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        for (nuint i = 0; i < count; i++)
        {
            string key = Marshal.PtrToStringUTF8(((nint*)keys)[i]) ?? string.Empty;
            result[key] = Marshal.PtrToStringUTF8(((nint*)values)[i]) ?? string.Empty;
        }
        return result;
    }

    public static nint CreatePairs()
    {
        var create = (delegate* unmanaged<nint*, void>)Slot(CreateKeyValuePairsSlot);
        nint pairs = 0;
        create(&pairs);
        return pairs;
    }

    public static void AddPair(nint pairs, string key, string value)
    {
        var add = (delegate* unmanaged<nint, byte*, byte*, void>)Slot(AddKeyValuePairSlot);
        fixed (byte* k = NullTerminated(key))
        fixed (byte* v = NullTerminated(value))
        {
            add(pairs, k, v);
        }
    }

    public static string? GetValue(nint pairs, string key)
    {
        var get = (delegate* unmanaged<nint, byte*, nint>)Slot(GetKeyValueSlot);
        fixed (byte* k = NullTerminated(key))
        {
            return Marshal.PtrToStringUTF8(get(pairs, k));
        }
    }

    public static void ReleasePairs(nint pairs)
    {
        if (pairs != 0)
        {
            ((delegate* unmanaged<nint, void>)Slot(ReleaseKeyValuePairsSlot))(pairs);
        }
    }

    private static void ThrowIfError(nint status)
    {
        if (status == 0)
        {
            return;
        }
        string message = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint, nint>)Slot(GetErrorMessageSlot))(status)) ?? "unknown error";
        ((delegate* unmanaged<nint, void>)Slot(ReleaseStatusSlot))(status);
        throw new InvalidOperationException($"ONNX Runtime C API call failed: {message}");
    }

    private static byte[] NullTerminated(string text)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(text) + 1];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static nint LoadApi()
    {
        nint* apiBase = (nint*)OrtGetApiBase();
        var getApi = (delegate* unmanaged<uint, nint>)apiBase[0];
        nint api = getApi(RequiredApiVersion);
        return api != 0
            ? api
            : throw new NotSupportedException(
                $"The loaded ONNX Runtime ({RuntimeVersion}) has no C API version {RequiredApiVersion}; allocator statistics need ONNX Runtime 1.23 or newer.");
    }
}
