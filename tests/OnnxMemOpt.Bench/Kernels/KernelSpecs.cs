using OnnxMemOpt.CustomOps;

namespace OnnxMemOpt.Bench.Kernels;

/// <summary>
/// The measured ops. Bytes moved count each tensor read or written once: float32 data 4 B per
/// element, codes 0.25 B per element, InvStdDev 4 B per row. The copy baseline is ONNX Runtime's
/// own Identity kernel (a memcpy of the input into the bound output: 4 B read + 4 B written).
/// </summary>
public static class KernelSpecs
{
    private static readonly TensorSpec X = new("X", TensorSpec.Kind.Data);
    private static readonly TensorSpec Y = new("Y", TensorSpec.Kind.Data);
    private static readonly TensorSpec DY = new("dY", TensorSpec.Kind.Data);
    private static readonly TensorSpec DX = new("dX", TensorSpec.Kind.Data);
    private static readonly TensorSpec Code = new("Code", TensorSpec.Kind.Codes);
    private static readonly TensorSpec Z = new("Z", TensorSpec.Kind.Data);
    private static readonly TensorSpec DZ = new("dZ", TensorSpec.Kind.Data);
    private static readonly TensorSpec InvStdDev = new("InvStdDev", TensorSpec.Kind.RowStatistic);

    public static readonly KernelSpec Copy = new("Copy", "Identity", "", false, [X], [Y], 8.0);

    public static readonly KernelSpec ReGelu2 = new("ReGelu2", "ReGelu2", CustomOpLibrary.Domain, false, [X], [Y, Code], 8.25);
    public static readonly KernelSpec ReSilu2 = new("ReSilu2", "ReSilu2", CustomOpLibrary.Domain, false, [X], [Y, Code], 8.25);
    public static readonly KernelSpec MsLayerNorm = new("MsLayerNorm", "MsLayerNorm", CustomOpLibrary.Domain, true, [X], [Z, InvStdDev], 8.0, 4.0);
    public static readonly KernelSpec MsRmsNorm = new("MsRmsNorm", "MsRmsNorm", CustomOpLibrary.Domain, true, [X], [Z, InvStdDev], 8.0, 4.0);

    public static readonly KernelSpec ReGelu2Grad = new("ReGelu2Grad", "ReGelu2Grad", CustomOpLibrary.Domain, false, [DY, Code], [DX], 8.25,
        Producer: ReGelu2, ProducerFeedList: [("Code", "Code")]);
    public static readonly KernelSpec ReSilu2Grad = new("ReSilu2Grad", "ReSilu2Grad", CustomOpLibrary.Domain, false, [DY, Code], [DX], 8.25,
        Producer: ReSilu2, ProducerFeedList: [("Code", "Code")]);
    public static readonly KernelSpec MsLayerNormGrad = new("MsLayerNormGrad", "MsLayerNormGrad", CustomOpLibrary.Domain, true, [DZ, Z, InvStdDev], [DX], 12.0, 4.0,
        Producer: MsLayerNorm, ProducerFeedList: [("Z", "Z"), ("InvStdDev", "InvStdDev")]);
    public static readonly KernelSpec MsRmsNormGrad = new("MsRmsNormGrad", "MsRmsNormGrad", CustomOpLibrary.Domain, true, [DZ, Z, InvStdDev], [DX], 12.0, 4.0,
        Producer: MsRmsNorm, ProducerFeedList: [("Z", "Z"), ("InvStdDev", "InvStdDev")]);

    public static IReadOnlyList<KernelSpec> All { get; } =
        [Copy, ReGelu2, ReGelu2Grad, ReSilu2, ReSilu2Grad, MsLayerNorm, MsLayerNormGrad, MsRmsNorm, MsRmsNormGrad];

    public static KernelSpec ByName(string name) => All.Single(s => s.Name == name);
}
