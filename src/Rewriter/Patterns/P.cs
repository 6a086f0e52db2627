namespace OnnxMemOpt.Patterns;

/// <summary>
/// The vocabulary patterns are written in, so that a rule reads like the formula it matches:
/// <c>P.Mul(x, P.Sigmoid(x))</c>. Add and Mul match their inputs in either order.
/// </summary>
public static class P
{
    /// <summary>
    /// Any value, named <paramref name="name"/> in messages; use the same object again where the
    /// formula repeats the value.
    /// </summary>
    public static AnyValue Var(string name) => new(name);

    /// <summary>
    /// Any constant (initializer that is not an input, or Constant output) whatever its values; the
    /// rule's check reads them.
    /// </summary>
    public static AnyConstant Const(string name) => new(name);

    /// <summary>A constant equal to <paramref name="expected"/> within <see cref="KnownConstants.Tolerance"/> (relative).</summary>
    public static ConstantValue Value(double expected, double relativeTolerance = KnownConstants.Tolerance) => new(expected, relativeTolerance);

    /// <summary>
    /// Output 0 of a default-domain <paramref name="opType"/> node whose inputs match
    /// <paramref name="inputs"/> in order, and no more inputs.
    /// </summary>
    public static NodeValue Op(string opType, params ValuePattern[] inputs) => new(opType, "", inputs, commutative: false);

    /// <summary>
    /// As <see cref="Op"/>, for an op of the com.microsoft domain (FastGelu, BiasGelu,
    /// SimplifiedLayerNormalization, ...).
    /// </summary>
    public static NodeValue MsOp(string opType, params ValuePattern[] inputs) => new(opType, "com.microsoft", inputs, commutative: false);

    /// <summary>a + b, either input order.</summary>
    public static NodeValue Add(ValuePattern a, ValuePattern b) => new("Add", "", [a, b], commutative: true);

    /// <summary>a·b, either input order.</summary>
    public static NodeValue Mul(ValuePattern a, ValuePattern b) => new("Mul", "", [a, b], commutative: true);

    /// <summary>a − b, in that order.</summary>
    public static NodeValue Sub(ValuePattern a, ValuePattern b) => Op("Sub", a, b);

    /// <summary>
    /// a / b, in that order (see <see cref="DivideBy(ValuePattern, double)"/> for the forms exporters
    /// also write).
    /// </summary>
    public static NodeValue Div(ValuePattern a, ValuePattern b) => Op("Div", a, b);

    /// <summary>a raised to b.</summary>
    public static NodeValue Pow(ValuePattern a, ValuePattern b) => Op("Pow", a, b);

    /// <summary>√x.</summary>
    public static NodeValue Sqrt(ValuePattern x) => Op("Sqrt", x);

    /// <summary>1/x written as a Reciprocal node.</summary>
    public static NodeValue Reciprocal(ValuePattern x) => Op("Reciprocal", x);

    /// <summary>erf(x), the core of exact GELU.</summary>
    public static NodeValue Erf(ValuePattern x) => Op("Erf", x);

    /// <summary>tanh(x), the core of tanh-approximated GELU.</summary>
    public static NodeValue Tanh(ValuePattern x) => Op("Tanh", x);

    /// <summary>σ(x), the core of SiLU.</summary>
    public static NodeValue Sigmoid(ValuePattern x) => Op("Sigmoid", x);

    /// <summary>ReduceMean with its axes as an attribute (opset &lt; 18) or as a second input.</summary>
    public static NodeValue ReduceMean(ValuePattern x) => new("ReduceMean", "", [x], commutative: false) { AllowExtraInputs = true };

    /// <summary>
    /// Whichever of <paramref name="alternatives"/> matches, tried in order and all of them on
    /// backtracking.
    /// </summary>
    public static OneOf AnyOf(params ValuePattern[] alternatives) => new(alternatives);

    /// <paramref name="x"/> itself or through one Cast, for mixed-precision exports.
    public static OptionalCast MaybeCast(ValuePattern x) => new(x);

    /// <summary>a·b·c however the exporter grouped the two Muls (Mul(Mul(a, b), c), Mul(a, Mul(b, c)), ...).</summary>
    public static OneOf Product(ValuePattern a, ValuePattern b, ValuePattern c) =>
        AnyOf(Mul(Mul(a, b), c), Mul(Mul(a, c), b), Mul(Mul(b, c), a));

    /// <summary>x/d written as Div(x, d) or as Mul(x, 1/d).</summary>
    public static OneOf DivideBy(ValuePattern x, double divisor) =>
        AnyOf(Div(x, Value(divisor)), Mul(x, Value(1.0 / divisor)));

    /// <summary>x/d for a computed d: Div(x, d), Mul(x, Reciprocal(d)) or Mul(x, Div(1, d)).</summary>
    public static OneOf DivideBy(ValuePattern x, ValuePattern divisor) =>
        AnyOf(Div(x, divisor), Mul(x, Reciprocal(divisor)), Mul(x, Div(Value(1.0), divisor)));

    /// <summary>x² written as Pow(x, 2) or Mul(x, x).</summary>
    public static OneOf Square(ValuePattern x) => AnyOf(Pow(x, Value(2.0)), Mul(x, x));

    /// <summary>x³ written as Pow(x, 3) or x·x² (torch's tanh GELU: Mul(x, Mul(x, x))).</summary>
    public static OneOf Cube(ValuePattern x) => AnyOf(Pow(x, Value(3.0)), Mul(x, Square(x)));
}
