namespace OnnxMemOpt.Patterns;

/// <summary>The constants exporters write into GELU and norm chains, and how closely a constant must match.</summary>
public static class KnownConstants
{
    /// <summary>
    /// Relative tolerance for matching constants: wide enough for float32 and float16 roundings and
    /// for the 1.4142099 that some exporters write for √2 (2.5e-6 off), narrow enough that no other
    /// constant of a transformer is confused with these.
    /// </summary>
    public const double Tolerance = 1e-3;

    /// <summary>The ½ of GELU's x·½·(1 + erf(x/√2)) and of tanh-GELU.</summary>
    public const double Half = 0.5;

    /// <summary>√2, which erf-GELU divides x by.</summary>
    public static readonly double Sqrt2 = Math.Sqrt(2.0);

    /// <summary>1/√2, which erf-GELU multiplies x by where the exporter wrote the division as a product.</summary>
    public static readonly double InvSqrt2 = 1.0 / Math.Sqrt(2.0);

    /// <summary>√(2/π), the scale inside tanh-GELU.</summary>
    public static readonly double SqrtTwoOverPi = Math.Sqrt(2.0 / Math.PI);

    /// <summary>The cubic coefficient of tanh-GELU.</summary>
    public const double GeluCubic = 0.044715;
}
