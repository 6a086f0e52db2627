// A user's console app with only Microsoft.ML.OnnxRuntime and OnnxMemOpt.CustomOps referenced:
// CustomOpLibrary finds libonnxmemopt_ops.so in the app's output (beside the app for a RID-specific
// build, under runtimes/linux-x64/native for a portable one) and registers it; the session then
// runs ReGelu2 (forward: exact GELU plus a 2-bit code per element) and ReGelu2Grad (backward from
// the codes alone). Exits 1 if a value is off, so CI can run it.
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxMemOpt.CustomOps;

float[] x = [-4f, -1f, 0f, 0.5f, 1f, 2f, 4f];
// GELU(x) = x·Φ(x), to float precision.
float[] expectedY = [-0.00012668497f, -0.15865526f, 0f, 0.34573123f, 0.8413448f, 1.9544997f, 3.9998734f];
// The paper's thresholds c = (-3.1859, -0.0012, 3.1908) put each x in one of four intervals,
// and the backward multiplies dY by that interval's level {0, -0.0492, 1.0487, 1}.
float[] levels = [0f, -0.04922261f, 1.0487406f, 1f];
int[] expectedCodes = [0, 1, 2, 2, 2, 2, 3];

using SessionOptions options = CustomOpLibrary.CreateSessionOptions();
using var session = new InferenceSession(Path.Combine(AppContext.BaseDirectory, "regelu2.onnx"), options);
var dy = Enumerable.Repeat(1f, x.Length).ToArray();
using var results = session.Run(
[
    NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [x.Length])),
    NamedOnnxValue.CreateFromTensor("dY", new DenseTensor<float>(dy, [x.Length])),
]);
float[] y = results.First(r => r.Name == "Y").AsEnumerable<float>().ToArray();
byte[] code = results.First(r => r.Name == "Code").AsEnumerable<byte>().ToArray();
float[] dx = results.First(r => r.Name == "dX").AsEnumerable<float>().ToArray();

Console.WriteLine($"library: {CustomOpLibrary.Path}");
Console.WriteLine($"code bytes: {code.Length} for {x.Length} elements (2 bits each)");
int failures = 0;
for (int i = 0; i < x.Length; i++)
{
    int c = (code[i >> 2] >> (2 * (i & 3))) & 3;
    bool ok = Math.Abs(y[i] - expectedY[i]) <= 1e-6f * Math.Max(1f, Math.Abs(expectedY[i])) && c == expectedCodes[i] && dx[i] == levels[c];
    failures += ok ? 0 : 1;
    Console.WriteLine($"x={x[i],5}  gelu={y[i],12:G8}  code={c}  dX={dx[i],10:G7}  {(ok ? "ok" : "WRONG")}");
}
return failures == 0 ? 0 : 1;
