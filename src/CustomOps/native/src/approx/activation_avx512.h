// AVX-512 twins of the forward activations in activation_math.h, for CPUs with AVX-512 F/DQ/VL/BW
// (x86-64-v4). Same accuracy contract (float32 results within 1 ulp) with about half the
// double-precision work, through 16-entry tables read by one in-register permute (vpermt2pd),
// which a compiler cannot derive from the portable loop (it would gather from memory).
//
// - GELU: Phi(-a) = 2^w(a) with w = log2 Phi(-a) approximated piecewise on a in [0, 15]: 16
//   intervals chosen by the exponent and top two mantissa bits of t = a + 1 (a in [0, 1] in
//   quarters, [1, 3] in halves, [3, 7] in units, [7, 15] in twos), a degree-5 polynomial on each
//   with per-interval coefficients. The position inside the interval comes from the remaining
//   mantissa bits, so the polynomial variable needs no division (the portable code computes
//   4 / (4 + a)).
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
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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
// kLog2NormalTail[k][slot]: coefficient of m^k, m in [1, 1.25) the position inside the interval: t
// with its exponent and top two mantissa bits replaced by those of 1.0. Minimax fits (Remez):
// max abs error 1.63e-8 (relative error of Phi: 1.13e-8).
inline constexpr int kTailDegree = 5;
alignas(64) inline constexpr double kLog2NormalTail[kTailDegree + 1][16] = {
    {-0.24837925153345788, -0.5368511439989806, -1.0051206791879417, -1.7005839217294823, -0.44032158571983154,
     -1.0966875021562545, -2.6999192335827624, -5.4781617123132875, -1.2903263827606577, -2.9159738766825414,
     -9.61085366802137, -21.762480575157035, -0.24858830837075294, -0.3703624782186845, -0.5320720023859545,
     -0.7400126823295261},
    {-0.8431338755434, -1.4476740059261435, -2.2750243175817184, -3.26984972888019, -0.6182215007991283,
     -4.029254446266048, -8.535310621749781, -13.573531917970058, 4.001050757347209, -15.773688673993888,
     -37.375544185723655, -59.68121818494177, -0.4185032772601911, -0.5640542204905638, -0.73577673054921,
     -0.9321871844170666},
    {-1.0082283295792982, -1.5180906036439077, -1.8954444745840964, -2.162702529931352, -6.476324826132408,
     -8.805237069516032, -9.946893762572206, -10.544402082747073, -39.29966767382736, -43.018379413014706,
     -44.48954522700106, -45.168847493330276, -0.2587221620692159, -0.3144717931833773, -0.36757002625346386,
     -0.41610688009883856},
    {-0.7015259767515358, -0.5082337190544106, -0.35717080201438844, -0.24943203600497413, -2.7309607817955857,
     -1.369287922137188, -0.7337643690164314, -0.4200412123284201, -4.085841605774327, -1.6925852161266566,
     -0.8122523411897924, -0.43544591832952967, -0.08173803308619487, -0.07683377311875511, -0.0695009721914336,
     -0.0611697677162793},
    {0.16261483422457537, 0.12026792144943117, 0.08412178789209775, 0.0576661242684502, 0.8467592102567425,
     0.4074561228938381, 0.20823010140662956, 0.11330531523737594, 1.3605003408517884, 0.5309282596778547,
     0.23973498882298294, 0.12093431743540335, 0.007701310898102279, 0.008878350640438655, 0.00899586480390039,
     0.008463207140794697},
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
    // (t & low 50 bits) | bits of 1.0: the position inside the interval as m in [1, 1.25).
    const __m512d m = _mm512_castsi512_pd(_mm512_ternarylogic_epi64(
        t, _mm512_set1_epi64((int64_t{1} << 50) - 1), _mm512_castpd_si512(_mm512_set1_pd(1.0)), 0xea));
    __m512d log2_tail = Lookup16(kLog2NormalTail[kTailDegree], slot);
    for (int k = kTailDegree - 1; k >= 0; --k) {
      log2_tail = _mm512_fmadd_pd(log2_tail, m, Lookup16(kLog2NormalTail[k], slot));
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
    const uint32_t packed = SixteenCodes(_mm512_loadu_ps(x + i), t, 0xffff);
    // Converting straight from memory (the load is in L1) saves extracting the upper half.
    const __m512d low = activation(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
    const __m512d high = activation(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
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
