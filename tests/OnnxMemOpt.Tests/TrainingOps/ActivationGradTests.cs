using DataType = OnnxMemOpt.Onnx.Proto.TensorProto.Types.DataType;

namespace OnnxMemOpt.Tests.TrainingOps;

/// <summary>
/// ReluGrad, SigmoidGrad and TanhGrad against central differences of the float64 forward. Relu
/// and the gradient builder's convention: ReluGrad gets Relu's output (same sign pattern as X);
/// SigmoidGrad and TanhGrad get the forward output Y, not X.
/// </summary>
public class ActivationGradTests
{
    private static readonly long[] Shape = [4, 25];

    public static TheoryData<string, DataType> Cases()
    {
        var data = new TheoryData<string, DataType>();
        foreach (string op in new[] { "ReluGrad", "SigmoidGrad", "TanhGrad" })
        {
            foreach (DataType type in new[] { DataType.Float, DataType.Double, DataType.Float16, DataType.Bfloat16 })
            {
                data.Add(op, type);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientMatchesFiniteDifferences(string op, DataType type)
    {
        var random = new Random(op.Length + (int)type);
        int count = (int)GradCheck.Count(Shape);
        // Keep Relu's inputs away from its kink so the central difference is exact.
        double[] x = GradCheck.Uniform(random, count, -4, 4).Select(v => op == "ReluGrad" && Math.Abs(v) < 0.01 ? v + 0.05 : v).ToArray();
        double[] dy = GradCheck.Quantize(type, GradCheck.Uniform(random, count));
        Func<double, double> forward = op switch
        {
            "ReluGrad" => v => Math.Max(v, 0),
            "SigmoidGrad" => ReferenceMath.Sigmoid,
            _ => Math.Tanh,
        };
        // What the op receives as its second input: Relu's output, or the sigmoid/tanh output.
        double[] second = GradCheck.Quantize(type, x.Select(forward).ToArray());
        if (op == "ReluGrad")
        {
            x = GradCheck.Quantize(type, x);
        }

        Fetched dx = OpHarness.RunSingle(op, [Feed.Of("dy", type, Shape, dy), Feed.Of("y", type, Shape, second)], type);

        double[] expected = GradCheck.Gradient(v => v.Select(forward).ToArray(), x, dy);
        // Half-precision Y rounds the derivative itself (sigma(1 - sigma), 1 - y^2): allow for it.
        double tolerance = GradCheck.Tolerance(type) * (op == "ReluGrad" || type is DataType.Double or DataType.Float ? 1 : 3);
        GradCheck.AssertClose(dx.Values, expected, op == "ReluGrad" ? 1e-9 + GradCheck.Tolerance(type) : tolerance, $"{op} {type}");
    }
}
