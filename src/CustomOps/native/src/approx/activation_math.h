// Forward activations of ReGELU2 / ReSiLU2 on the CPU, accurate to 1 ulp in float32 and written
// so that loops calling them vectorise (no calls into libm, no branches: selects only).
//
// Why not std::erf: glibc's erf/erfc are scalar calls, far too slow for a memory-bound kernel,
// and float erf loses all relative accuracy in the negative tail, where GELU(x) = x * Phi(x)
// with Phi(x) tiny. Here Phi is evaluated in double from a smooth fit with relative error
// below 1e-9, so the single rounding to float at the end dominates.
#pragma once

#include <cstdint>

#include "onnxmemopt/kernel_common.h"

namespace onnxmemopt::approx {

// exp(z) for z in [-708, 709], relative error ~7e-12: z = k ln2 + r with |r| <= ln2/2, a
// degree-9 Taylor polynomial for e^r, and 2^k assembled in the exponent bits. The rounding of
// z/ln2 to an integer uses the 1.5 * 2^52 trick so that it vectorises without a float->int
// instruction: adding it leaves k in the low bits of the sum.
ONNXMEMOPT_INLINE double ExpDouble(double z) {
  constexpr double kInvLn2 = 1.4426950408889634;
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // ln 2 split so that k * kLn2Hi is exact
  constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
  constexpr double kShift = 0x1.8p52;
  const double shifted = z * kInvLn2 + kShift;
  const double k = shifted - kShift;
  const double r = (z - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 362880.0;  // 1/9!
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int64_t k_int = static_cast<int64_t>(DoubleBits(shifted) - DoubleBits(kShift));
  const double scale = BitsToDouble(static_cast<uint64_t>(k_int + 1023) << 52);
  return p * scale;
}

// Inputs with |x| above this give float GELU(x) == x (x > 0) or -0 (x < 0): |x| * Phi(-|x|) is
// below half the smallest float subnormal from about 14.1 on.
inline constexpr double kGeluSaturation = 15.0;

// Upper tail of the standard normal, Phi(-a) for a in [0, 15]. With s = 4 / (4 + a),
// Phi(-a) = s * exp(-a^2/2 + P(s)), where P is a degree-12 near-minimax (Chebyshev) fit of
// log(Phi(-a) e^(a^2/2) / s) on s in [4/19, 1] (max abs error 3.7e-10, fitted with mpmath.chebyfit).
// a^2 of a float is exact in double, so the exponent carries no cancellation error.
ONNXMEMOPT_INLINE double NormalUpperTail(double a) {
  const double s = 4.0 / (4.0 + a);
  double p = -0.14856725777158067;
  p = p * s + 1.3006947320563689;
  p = p * s + -4.821565971041309;
  p = p * s + 9.930639279589252;
  p = p * s + -12.630717401925487;
  p = p * s + 10.676394375112306;
  p = p * s + -6.442656376450354;
  p = p * s + 2.6926788244187767;
  p = p * s + -0.7372909501864316;
  p = p * s + 0.37604898212487153;
  p = p * s + 0.4146556033934982;
  p = p * s + 1.001837953755734;
  p = p * s + -2.30529897339657;
  return s * ExpDouble(-0.5 * (a * a) + p);
}

// GELU(x) = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x), exact erf form. GELU(-inf) is its limit, -0.
struct GeluActivation {
  ONNXMEMOPT_INLINE float operator()(float x) const {
    const double xd = x;
    const double a = xd < 0.0 ? -xd : xd;
    const double clamped = a < kGeluSaturation ? a : kGeluSaturation;
    const double tail = NormalUpperTail(clamped);
    const double phi = xd < 0.0 ? tail : 1.0 - tail;
    const double y = xd * phi;
    const double saturated = xd > 0.0 ? xd : -0.0;
    // NaN fails both comparisons and flows through y unchanged.
    return static_cast<float>(a > kGeluSaturation ? saturated : y);
  }
};

// x * sigmoid(alpha x) = x / (1 + exp(-alpha x)), alpha > 0. exp's argument is clamped to
// +-200 (the result is then x or a float zero anyway); x = -inf gives its limit, -0.
struct SiluActivation {
  double alpha = 1.0;
  ONNXMEMOPT_INLINE float operator()(float x) const {
    const double xd = x;
    double t = -alpha * xd;
    t = t < -200.0 ? -200.0 : t;
    t = t > 200.0 ? 200.0 : t;
    const double y = xd / (1.0 + ExpDouble(t));
    return static_cast<float>(xd == -INFINITY ? -0.0 : y);
  }
};

}  // namespace onnxmemopt::approx
