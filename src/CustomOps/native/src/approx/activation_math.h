// Forward activations of ReGELU2 / ReSiLU2 on the CPU, accurate to 1 ulp in float32 and written
// so that loops calling them vectorise (no calls into libm, no branches: selects only). The files
// that include this header are compiled with -ffp-contract=fast (see CMakeLists.txt): clones for
// CPUs with FMA fuse the polynomial steps, which only makes them more accurate.
//
// Why not std::erf: glibc's erf/erfc are scalar calls, far too slow for a memory-bound kernel,
// and float erf loses all relative accuracy in the negative tail, where GELU(x) = x * Phi(x)
// with Phi(x) tiny. Here Phi is evaluated in double from a smooth fit with relative error
// below 5e-9, so the single rounding to float at the end dominates.
//
// This is the portable code (the default and x86-64-v3 clones, and every CPU without AVX-512);
// CPUs with AVX-512 run the twins in activation_avx512.h, about twice as fast, unless the portable
// path is forced (onnxmemopt/cpu_isa.h).
#pragma once

#include <cstdint>

#include "onnxmemopt/kernel_common.h"

namespace onnxmemopt::approx {

// 2^w for w in [-1022, 0], relative error ~2e-9 (far below the 6e-8 that float32 results can
// carry and still land within 1 ulp): w = k + d with |d| <= 1/2, a degree-6 near-minimax
// polynomial for 2^d, and 2^k assembled in the exponent bits. Rounding w to an integer uses the
// 1.5 * 2^52 trick so that it vectorises without a float->int instruction: adding it leaves k in
// the low bits of the sum, and d = w - k is exact. Working in base 2 (callers scale by 1/ln2,
// folded into their constants) saves the two-step ln2 reduction an e^z needs.
ONNXMEMOPT_INLINE double Exp2Double(double w) {
  constexpr double kShift = 0x1.8p52;
  const double shifted = w + kShift;
  const double k = shifted - kShift;
  const double d = w - k;
  double p = 0.0001546144469856913;
  p = p * d + 0.0013400428177615838;
  p = p * d + 0.009618056678524637;
  p = p * d + 0.05550327226670302;
  p = p * d + 0.24022650922288757;
  p = p * d + 0.6931472067028326;
  p = p * d + 1.0;
  const int64_t k_int = static_cast<int64_t>(DoubleBits(shifted) - DoubleBits(kShift));
  const double scale = BitsToDouble(static_cast<uint64_t>(k_int + 1023) << 52);
  return p * scale;
}

inline constexpr double kLog2E = 1.4426950408889634;

// Inputs with |x| above this give float GELU(x) == x (x > 0) or -0 (x < 0): |x| * Phi(-|x|) is
// below half the smallest float subnormal from about 14.36 on.
inline constexpr double kGeluSaturation = 15.0;

// Upper tail of the standard normal, Phi(-a) for a in [0, 15]. With s = 4 / (4 + a),
// Phi(-a) = s * 2^(-a^2 / (2 ln 2) + P(s)), where P is a degree-11 near-minimax (Chebyshev) fit
// of log2(Phi(-a) e^(a^2/2) / s) on s in [4/19, 1] (max abs error 2.3e-9, relative error of Phi
// 1.6e-9; scripts/fit_activation_tables.py). The exponent a^2 / (2 ln 2) (below 163) costs at
// most two roundings, an absolute error under 1e-13, since a is a float.
ONNXMEMOPT_INLINE double NormalUpperTail(double a) {
  // s = 4 / (4 + a) = 1 / d: a float division (several times cheaper than a double one) and one
  // Newton step in double, which squares its 2^-24 relative error.
  const double d = 1.0 + 0.25 * a;
  const double s0 = static_cast<double>(4.0f / (4.0f + static_cast<float>(a)));
  const double s = s0 + s0 * (1.0 - d * s0);
  double p = 0.3335680166471631;
  p = p * s + -1.9661795673052898;
  p = p * s + 4.751883484444003;
  p = p * s + -6.0951960048011635;
  p = p * s + 4.7357843253041745;
  p = p * s + -2.6211629942667;
  p = p * s + 0.8959297653278553;
  p = p * s + -0.11372797855716144;
  p = p * s + 0.33373349506923156;
  p = p * s + 0.6283222860244427;
  p = p * s + 1.4427920703968695;
  p = p * s + -3.325746896016263;
  return s * Exp2Double(a * (a * (-0.5 * kLog2E)) + p);
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

// x * sigmoid(alpha x), alpha > 0. With t = -alpha x and u = exp(-|t|) in (0, 1]:
// sigmoid(alpha x) = 1 / (1 + u) for t <= 0 and u / (1 + u) for t > 0, so the divisor stays in
// (1, 2] and 1 / (1 + u) can come from a float division refined by one Newton step in double.
// |t| is clamped to 200 (beyond it the result is x or a float zero anyway); x = -inf gives its
// limit, -0.
struct SiluActivation {
  double alpha = 1.0;
  ONNXMEMOPT_INLINE float operator()(float x) const {
    const double xd = x;
    const double t = -alpha * xd;
    double magnitude = t < 0.0 ? -t : t;
    magnitude = magnitude > 200.0 ? 200.0 : magnitude;
    const double u = Exp2Double(magnitude * -kLog2E);
    const double d = 1.0 + u;
    const double r0 = static_cast<double>(1.0f / static_cast<float>(d));
    const double r = r0 + r0 * (1.0 - d * r0);
    const double sigmoid = t > 0.0 ? u * r : r;
    return static_cast<float>(xd == -INFINITY ? -0.0 : xd * sigmoid);
  }
};

}  // namespace onnxmemopt::approx
