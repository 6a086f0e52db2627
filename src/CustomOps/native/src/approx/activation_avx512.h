// AVX-512 twins of the forward activations in activation_math.h, for CPUs with AVX-512 F/DQ/VL/BW
// (x86-64-v4). Same accuracy contract (float32 results within 1 ulp) with about half the
// double-precision work, through 16-entry tables read by one in-register permute (vpermt2pd),
// which a compiler cannot derive from the portable loop (it would gather from memory).
//
// - GELU: Phi(-a) = 2^w(a) with w = log2 Phi(-a) approximated piecewise on a in [0, 15]: 16
//   intervals chosen by the exponent and top two mantissa bits of t = a + 1 (a in [0, 1] in
//   quarters, [1, 3] in halves, [3, 7] in units, [7, 15] in twos), a degree-5 polynomial on each
//   with per-interval coefficients. The position inside the interval comes from the remaining
//   mantissa bits, so the variable is centred and small without the division 4 / (4 + a) of the
//   portable code.
// - 2^w: w = n/16 + d with |d| <= 1/32, a degree-3 polynomial, 2^(j/16) from a 16-entry table,
//   2^floor(n/16) applied by vscalefpd.
// - SiLU: the same 2^w, and 1 / (1 + u) from vrcp14pd plus one Newton step (error 2^-28).
// - Codes: three vcmpps masks per 16 inputs, interleaved into the packed layout by pdep, in the
//   same pass.
//
// Error budget: float32 tolerates a relative error below 2^-24 = 6e-8 before the final rounding
// and still lands within 1 ulp of the correctly rounded value. Here: the w fit 1.13e-8 (relative
// error of Phi; worst on a in [7, 9], degree 6 would give 5.4e-10 for about 5 % more time),
// 2^d 1.2e-9, the reciprocal 3.7e-9, plus a few double roundings. Measured against long double
// over 36 million inputs: 1.25e-8 (GELU, 0.21 of the smallest relative float ulp 2^-24),
// 3.5e-9 (SiLU). The tables come from scripts/fit_activation_tables.py (mpmath).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ONNXMEMOPT_HAVE_AVX512_KERNELS 1

// GCC 12 reports the intrinsics' own _mm512_undefined_* placeholders as "may be used
// uninitialized" once they are inlined into -O3 code (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "activation_math.h"
#include "two_bit_tables.h"

#define ONNXMEMOPT_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2,bmi2")))
#define ONNXMEMOPT_AVX512_INLINE inline __attribute__((always_inline)) ONNXMEMOPT_AVX512

namespace onnxmemopt::approx::avx512 {

// Table slot of the interval holding a: bits 50-53 of t = a + 1 in [1, 16), i.e. the low two
// bits of the biased exponent (1023..1026 -> 3, 0, 1, 2) and the top two mantissa bits.
// kLog2NormalTail[k][slot]: coefficient of v^k, v = (position in the interval) - 1/8 in [-1/8, 1/8).
// Minimax fits (Remez): max abs error 1.6e-8, a relative error of Phi of 1.13e-8.
inline constexpr int kTailDegree = 5;
alignas(64) inline constexpr double kLog2NormalTail[kTailDegree + 1][16] = {
    {-3.242638418014068, -4.641724132767452, -6.354083958624137, -8.390586582361923, -12.06968092508444,
     -18.167021502412258, -25.650218092622367, -34.53544956405129, -50.513712138838834, -76.79651110163752,
     -108.79460396753709, -146.52448607644567, -1.1511640891742698, -1.4988707692945704, -1.9105803369021803,
     -2.3899655802450717},
    {-4.988310349046708, -6.214402386817848, -7.491634133706464, -8.8055570127829, -21.648454316640017,
     -27.14759565213805, -32.728462142499446, -38.36011483796907, -93.73326007532955, -116.54775226728796,
     -139.4476037948205, -162.3980363998633, -1.268313455464585, -1.5161889779641815, -1.7799321776156485,
     -2.0572287105568448},
    {-2.388486258418065, -2.5090513516804327, -2.595121401495015, -2.6572840593484903, -10.884472695499966,
     -11.093588620197483, -11.21999355903787, -11.300995041565434, -45.50493397156935, -45.73018964636077,
     -45.85828116300051, -45.93761936318254, -0.47823524547841045, -0.5124279745191117, -0.5417712732187279,
     -0.5667277109846728},
    {-0.18972736024779335, -0.1349893834070879, -0.09686746487148135, -0.07051273374263176, -0.36164032114655187,
     -0.21229069950916074, -0.1326332536570893, -0.08738160913246552, -0.40523482002741873, -0.219916137218359,
     -0.13155320780497481, -0.08456315077261255, -0.04897462415651331, -0.04226979277968506, -0.03608430428392117,
     -0.03058786364385985},
    {0.06485121755486571, 0.045618449949378914, 0.031568584171416524, 0.021853565625924186, 0.20627210558727238,
     0.10676486494084071, 0.058939283197522466, 0.03454339729415944, 0.2753248972579487, 0.12359133094805534,
     0.06279795934804709, 0.0350135792565598, 0.006860204181756194, 0.006483418399148033, 0.005855987599438467,
     0.005128750224725058},
    {-0.0173801985190595, -0.013271017155564845, -0.009342791772565553, -0.006366677092004625, -0.11386437416346136,
     -0.05345622363608843, -0.026540589903841262, -0.01400211874546071, -0.19292007886112708, -0.07241545399640877,
     -0.031455471906655263, -0.015274797898461076, -0.0001495300829059706, -0.00042576573178499977,
     -0.000558200391904342, -0.0005927923406346026},
};

// 2^(j/16), j = 0..15.
alignas(64) inline constexpr double kExp2Sixteenths[16] = {1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927, 1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};

// 2^d on |d| <= 1/32, degree 3 (max error 1.2e-9), constant term first.
inline constexpr double kExp2Small[4] = {0.9999999988534117, 0.6931471804009951, 0.24023589979184537, 0.05550541078283726};

// Inputs with a = |x| above this are saturated (GELU gives x or -0 in float, see
// kGeluSaturation); it keeps t = a + 1 below 16, inside the table.
inline constexpr double kGeluClamp = 14.75;

// table[index & 15] per lane: one vpermt2pd, the two halves of the table stay in registers.
ONNXMEMOPT_AVX512_INLINE __m512d Lookup16(const double* table, __m512i index) {
  return _mm512_permutex2var_pd(_mm512_load_pd(table), index, _mm512_load_pd(table + 8));
}

// 2^w for w in [-1074, 0] (vscalefpd gives subnormal and zero results the right exponent):
// relative error about 1.2e-9. w = n/16 + d with |d| <= 1/32, 2^(n/16) = 2^(j/16) 2^floor(n/16).
ONNXMEMOPT_AVX512_INLINE __m512d Exp2NonPositive(__m512d w) {
  // Adding 1.5 * 2^48 rounds w to a multiple of 1/16 (its ulp there): the sum holds n in its low
  // mantissa bits, and subtracting the constant again gives n / 16 exactly; d is exact too.
  constexpr double kShift = 0x1.8p48;
  const __m512d shifted = _mm512_add_pd(w, _mm512_set1_pd(kShift));
  const __m512d n16 = _mm512_sub_pd(shifted, _mm512_set1_pd(kShift));
  const __m512d d = _mm512_sub_pd(w, n16);
  __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(kExp2Small[3]), d, _mm512_set1_pd(kExp2Small[2]));
  p = _mm512_fmadd_pd(p, d, _mm512_set1_pd(kExp2Small[1]));
  p = _mm512_fmadd_pd(p, d, _mm512_set1_pd(kExp2Small[0]));
  // j = n mod 16 is in the low 4 bits of `shifted`; vscalefpd applies 2^floor(n16).
  const __m512d fraction = Lookup16(kExp2Sixteenths, _mm512_castpd_si512(shifted));
  return _mm512_scalef_pd(_mm512_mul_pd(p, fraction), n16);
}

// GELU(x) = x Phi(x) on 8 lanes; same special values as GeluActivation (NaN stays NaN,
// GELU(-inf) = -0, large positive x gives x).
struct Gelu {
  ONNXMEMOPT_AVX512_INLINE __m512d operator()(__m512d x) const {
    // Below -kGeluClamp the result is -0 in float: clamping x there gives it (and -0 at -inf)
    // without a select. vmaxpd returns its second operand when one is NaN, so NaN stays NaN.
    const __m512d clamped_x = _mm512_max_pd(_mm512_set1_pd(-kGeluClamp), x);
    // Above +kGeluClamp, Phi(-a) < 1e-48: 1 - Phi(-a) rounds to 1, so clamping a alone gives x.
    // a = min(|x|, kGeluClamp) in one vrangepd (imm 0b1010: smaller magnitude, sign cleared).
    const __m512d a = _mm512_range_pd(x, _mm512_set1_pd(kGeluClamp), 0x0a);
    const __m512i t = _mm512_castpd_si512(_mm512_add_pd(a, _mm512_set1_pd(1.0)));
    const __m512i slot = _mm512_srli_epi64(t, 50);
    // (t & low 50 bits) | bits of 1.0: the position inside the interval as w in [1, 1.25).
    const __m512i w = _mm512_ternarylogic_epi64(t, _mm512_set1_epi64((int64_t{1} << 50) - 1),
                                                _mm512_castpd_si512(_mm512_set1_pd(1.0)), 0xea);
    const __m512d v = _mm512_sub_pd(_mm512_castsi512_pd(w), _mm512_set1_pd(1.125));
    __m512d log2_tail = Lookup16(kLog2NormalTail[kTailDegree], slot);
    for (int k = kTailDegree - 1; k >= 0; --k) {
      log2_tail = _mm512_fmadd_pd(log2_tail, v, Lookup16(kLog2NormalTail[k], slot));
    }
    const __m512d tail = Exp2NonPositive(log2_tail);  // Phi(-|x|)
    // Phi(x) = Phi(-|x|) for x < 0 (sign bit set), 1 - Phi(-|x|) otherwise.
    const __mmask8 positive = _knot_mask8(_mm512_movepi64_mask(_mm512_castpd_si512(x)));
    const __m512d phi = _mm512_mask_sub_pd(tail, positive, _mm512_set1_pd(1.0), tail);
    return _mm512_mul_pd(clamped_x, phi);
  }
};

// x sigmoid(alpha x) on 8 lanes, alpha > 0; the same branches as SiluActivation.
struct Silu {
  double alpha_over_ln2;  // rounded once: a relative error of 1e-16 in w below, 3e-14 in u
  double lowest_x;        // -200 / alpha: below it the result is -0 in float (see operator())

  explicit Silu(double alpha) : alpha_over_ln2(alpha * 1.4426950408889634), lowest_x(-200.0 / alpha) {}

  ONNXMEMOPT_AVX512_INLINE __m512d operator()(__m512d x) const {
    // u = e^-|alpha x| = 2^w, w = -min(|alpha x| / ln2, 288) in one vrangepd (imm 0b1110:
    // smaller magnitude, sign set). NaN stays NaN.
    const __m512d w = _mm512_range_pd(_mm512_mul_pd(x, _mm512_set1_pd(alpha_over_ln2)), _mm512_set1_pd(288.0), 0x0e);
    const __m512d u = Exp2NonPositive(w);
    const __m512d d = _mm512_add_pd(_mm512_set1_pd(1.0), u);  // in (1, 2]
    const __m512d r0 = _mm512_rcp14_pd(d);
    const __m512d r = _mm512_fmadd_pd(r0, _mm512_fnmadd_pd(d, r0, _mm512_set1_pd(1.0)), r0);
    const __mmask8 negative = _mm512_movepi64_mask(_mm512_castpd_si512(x));
    const __m512d sigmoid = _mm512_mask_mul_pd(r, negative, r, u);
    // Clamping x at -200 / alpha (u <= 2^-288 there) keeps |x sigmoid| <= 4e-85 / alpha, below
    // half the smallest float subnormal for alpha >= 1e-38: a float -0, the limit, also at -inf.
    // vmaxpd returns its second operand when one is NaN: NaN stays NaN.
    return _mm512_mul_pd(_mm512_max_pd(_mm512_set1_pd(lowest_x), x), sigmoid);
  }
};

inline Gelu VectorTwin(const GeluActivation&) { return Gelu{}; }
inline Silu VectorTwin(const SiluActivation& activation) { return Silu{activation.alpha}; }

// 2-bit codes of 16 floats, element k at bits 2k and 2k + 1 (the packed layout of
// kernel_common.h). code = [x > t0] + [x > t1] + [x > t2] with t0 < t1 < t2: its low bit is the
// parity of the three tests, its high bit the middle one. NaN fails every test: code 0.
ONNXMEMOPT_AVX512_INLINE uint32_t SixteenCodes(__m512 x, const FloatThresholds& t, __mmask16 live) {
  const uint32_t above0 = _mm512_mask_cmp_ps_mask(live, x, _mm512_set1_ps(t.t[0]), _CMP_GT_OQ);
  const uint32_t above1 = _mm512_mask_cmp_ps_mask(live, x, _mm512_set1_ps(t.t[1]), _CMP_GT_OQ);
  const uint32_t above2 = _mm512_mask_cmp_ps_mask(live, x, _mm512_set1_ps(t.t[2]), _CMP_GT_OQ);
  return _pdep_u32(above0 ^ above1 ^ above2, 0x55555555u) | _pdep_u32(above1, 0xAAAAAAAAu);
}

// y[i] = activation(x[i]) and the codes of x for `count` floats (x and y may be the same
// buffer): 16 at a time, 8 lanes of double per activation call; the tail uses masked loads and
// stores, and its unused code slots stay 0.
template <typename Vector>
ONNXMEMOPT_AVX512_INLINE void ForwardFloats(const float* x, float* y, uint8_t* codes, int64_t count,
                                            const Vector& activation, const FloatThresholds& t) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512 in = _mm512_loadu_ps(x + i);
    const uint32_t packed = SixteenCodes(in, t, 0xffff);
    const __m512d low = activation(_mm512_cvtps_pd(_mm512_castps512_ps256(in)));
    const __m512d high = activation(_mm512_cvtps_pd(_mm512_extractf32x8_ps(in, 1)));
    std::memcpy(codes + i / 4, &packed, sizeof packed);
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(low));
    _mm256_storeu_ps(y + i + 8, _mm512_cvtpd_ps(high));
  }
  if (i < count) {
    const int64_t rest = count - i;
    const __mmask16 live = static_cast<__mmask16>((1u << rest) - 1u);
    const __m512 in = _mm512_maskz_loadu_ps(live, x + i);
    const uint32_t packed = SixteenCodes(in, t, live);
    const __m512d low = activation(_mm512_cvtps_pd(_mm512_castps512_ps256(in)));
    const __m512d high = activation(_mm512_cvtps_pd(_mm512_extractf32x8_ps(in, 1)));
    std::memcpy(codes + i / 4, &packed, static_cast<size_t>((rest + 3) / 4));
    _mm256_mask_storeu_ps(y + i, static_cast<__mmask8>(live), _mm512_cvtpd_ps(low));
    _mm256_mask_storeu_ps(y + i + 8, static_cast<__mmask8>(live >> 8), _mm512_cvtpd_ps(high));
  }
}

}  // namespace onnxmemopt::approx::avx512

#pragma GCC diagnostic pop

#endif
