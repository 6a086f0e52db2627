// AVX-512 twins of the forward activations in activation_math.h, for CPUs with AVX-512 F/DQ/VL
// (x86-64-v4). Same accuracy contract (float32 results within 1 ulp), about half the
// double-precision work, by two table tricks a compiler cannot find on its own: 16-entry tables
// read with one in-register permute (vpermt2pd) instead of a memory gather.
//
// - GELU: Phi(-a) = exp(z(a)) with z = log Phi(-a) approximated piecewise on a in [0, 15]: 16
//   intervals chosen from the exponent and top two mantissa bits of t = a + 1 (a in [0, 1] in
//   quarters, [1, 3] in halves, [3, 7] in units, [7, 15] in twos), a degree-6 polynomial on each.
//   The position inside the interval comes from the remaining mantissa bits, so the polynomial
//   variable is centred and small without a division (the portable code needs 4 / (4 + a)).
// - exp: z = n ln2/16 + r, |r| <= ln2/32, a degree-3 polynomial, 2^(j/16) from a 16-entry table
//   and 2^floor(n/16) applied by vscalefpd.
// - SiLU: the same exp, and 1 / (1 + u) from vrcp14pd plus one Newton step (relative error 2^-28).
//
// Error budget (float32 tolerates a relative error below 2^-24 = 6e-8 before the final rounding
// and still lands within 1 ulp of the correctly rounded value): the z fit <= 5.5e-10 absolute,
// the exp polynomial 1.2e-9, the reciprocal 3.7e-9; everything else is a few double roundings.
// The tables come from scripts/fit_activation_tables.py (mpmath Chebyshev fits).
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
// Fit error max abs error 7.81e-10 (relative error of Phi: 5.41e-10).
inline constexpr int kTailDegree = 6;
alignas(64) inline constexpr double kLog2NormalTail[kTailDegree + 1][16] = {
    {-3.242638418291795, -4.641724133107145, -6.35408395890081, -8.390586582559497, -12.06968093210122,
     -18.16702150550557, -25.65021809403097, -34.53544956472863, -50.513712155086075, -76.79651110679066,
     -108.79460396946254, -146.52448607726322, -1.1511640891454469, -1.498870769278969, -1.910580336896153,
     -2.3899655802451027},
    {-4.98831034932447, -6.21440238677659, -7.491634133591585, -8.805557012678216, -21.648454308438527,
     -27.147595648555548, -32.728462140965526, -38.36011483728747, -93.73326004633807, -116.5477522594664,
     -139.44760379229868, -162.39803639892438, -1.2683134554856892, -1.5161889779805575, -1.779932177626671,
     -2.057228710557844},
    {-2.3884859381013173, -2.509050960271124, -2.595121082744035, -2.6572838317325607, -10.884464611423892,
     -11.093585056538014, -11.219991936291944, -11.300994261258314, -45.504915254383874, -45.73018370991108,
     -45.85827894487432, -45.93761842135792, -0.4782352786862835, -0.5124279924962626, -0.5417712801680966,
     -0.5667277109411408},
    {-0.18972728897758645, -0.13498939393317408, -0.09686749427143607, -0.07051276053921915, -0.36164242064053637,
     -0.21229161664737034, -0.13263364638065903, -0.08738178363785574, -0.40524224213077287, -0.21991813940173352,
     -0.13155385334706185, -0.08456339114925499, -0.04897461875343642, -0.042269788586462013, -0.03608430146098811,
     -0.03058786331539384},
    {0.06479651788755582, 0.04555164206337263, 0.03151418177301532, 0.021814718378726883, 0.20489235374340273,
     0.10615665040666054, 0.058662330284140286, 0.03441022392488867, 0.2721304909739885, 0.12257817487283157,
     0.06241939713471465, 0.03485284003538273, 0.006865872023073558, 0.0064864868676421114, 0.00585717409634878,
     0.005128741548321693},
    {-0.017383851392210437, -0.013270478755301374, -0.00934128661272883, -0.0063653051471789885,
     -0.11375688406781015, -0.053409266785334586, -0.026520482637854857, -0.013993184133234375, -0.1925400613648378,
     -0.07231294288492567, -0.031422419676812925, -0.015262490582465343, -0.00014980672182777187,
     -0.0004259804340734976, -0.000558344954220406, -0.0005928125897278961},
    {0.0023346773457958814, 0.002850654112254114, 0.0023212262014185945, 0.0016575023552461439, 0.058871092660360475,
     0.025950868152175198, 0.011816748192452266, 0.005682078674617969, 0.13629474798572466, 0.043228008521527236,
     0.01615201156361148, 0.006858224163416373, -0.0002418372647349763, -0.0001309305688327112,
     -5.063589887517809e-05, 4.194532097928871e-07},
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
