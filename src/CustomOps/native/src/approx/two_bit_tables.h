// ReGELU2 / ReSiLU2 step tables (Yang et al., ICML 2024; METHOD.md). The backward pass of the
// activation is replaced by the derivative of three shifted ReLUs: a step function with four
// levels, so the forward pass keeps only which of four intervals each input fell in (2 bits).
// Plain C++ with no ONNX Runtime dependency: shared by the CPU kernels and the CUDA host code.
#pragma once

#include <cmath>
#include <cstdint>

namespace onnxmemopt::approx {

struct StepTable {
  double thresholds[3];  // c0 < c1 < c2; code(x) = [x > c0] + [x > c1] + [x > c2]
  double levels[4];      // derivative on each interval: cumulative sums {0, a0, a0 + a1, 1}
};

inline constexpr StepTable kReGelu2Table{
    {-3.1858810036855245, -0.001178821281161997, 3.190832613414926},
    {0.0, -0.04922261145617846, 1.0487405950855513, 1.0}};

// A 2-bit GELU derivative fitted on the derivative instead of the function: Few-Bit Backward
// (Novikov et al., ICML 2023), borders -0.4536, 0, 0.4536 with its optimal levels (METHOD.md,
// related work). Same code, same memory; selected by ReGelu2/ReGelu2Grad's attribute
// table = "few-bit" (default "yang2024", the table above).
inline constexpr StepTable kFewBitGelu2Table{{-0.4536, 0.0, 0.4536}, {-0.0015, 0.3251, 0.6749, 1.0015}};

// x * sigmoid(alpha * x) has derivative SiLU'(alpha * x): same levels, thresholds c_i / alpha.
inline constexpr StepTable kReSilu2Table{
    {-6.3050461001646445, -0.0008684942046214787, 6.325815242089708},
    {0.0, -0.04060357190528599, 1.0403218566243821, 1.0}};

// The thresholds as floats such that, for every float x, (x > t) == (x > c) in exact
// arithmetic: the largest float not above c. Comparing in float then matches the published
// rule even where c is not representable (rounding c to nearest could move it up past a float).
struct FloatThresholds {
  float t[3];
};

inline float LargestFloatNotAbove(double c) {
  float t = static_cast<float>(c);
  if (static_cast<double>(t) > c) t = std::nextafter(t, -INFINITY);
  return t;
}

inline FloatThresholds MakeThresholds(const StepTable& table, double scale_divisor) {
  FloatThresholds result{};
  for (int i = 0; i < 3; ++i) result.t[i] = LargestFloatNotAbove(table.thresholds[i] / scale_divisor);
  return result;
}

// Levels as floats: dX = dY * level[code] is computed in float32.
struct FloatLevels {
  float l[4];
};

inline FloatLevels MakeLevels(const StepTable& table) {
  FloatLevels result{};
  for (int i = 0; i < 4; ++i) result.l[i] = static_cast<float>(table.levels[i]);
  return result;
}

}  // namespace onnxmemopt::approx
