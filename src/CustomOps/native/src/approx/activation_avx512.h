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
#include <immintrin.h>

#include <cstdint>

#include "activation_math.h"

#define ONNXMEMOPT_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2")))
#define ONNXMEMOPT_AVX512_INLINE inline __attribute__((always_inline)) ONNXMEMOPT_AVX512

namespace onnxmemopt::approx::avx512 {

// Table slot of the interval holding a: bits 50-53 of t = a + 1 in [1, 16), i.e. the low two
// bits of the biased exponent (1023..1026 -> 3, 0, 1, 2) and the top two mantissa bits.
// kLogNormalTail[k][slot]: coefficient of v^k, v = (position in the interval) - 1/8 in [-1/8, 1/8).
alignas(64) inline constexpr double kLogNormalTail[7][16] = {
    {-2.247625677214318, -3.217397995800274, -4.404315381153271, -5.815911432945222, -8.366065308344092,
     -12.59241973571308, -17.77937635262526, -23.938149495161838, -35.01343715991455, -53.23128515051247,
     -75.4106730015688, -101.56303440744996, -0.7979261427530241, -1.0389380477494337, -1.3243133737528388,
     -1.6565979035822067},
    {-3.457633254392252, -4.3074954932591885, -5.192805077485656, -6.10354701659776, -15.005565067374965,
     -18.81727938277772, -22.685641257073165, -26.589205445421534, -64.97094492581141, -80.78474587924813,
     -96.65771340447216, -112.56574105838581, -0.8791278957361471, -1.0509421152832883, -1.2337549705098507,
     -1.4259622804901415},
    {-1.655572293802004, -1.739141598993153, -1.7988008617157003, -1.8418887959129526, -7.544535957312972,
     -7.689487204241265, -7.777105776546082, -7.833252309715323, -31.541603710195428, -31.69774790501321,
     -31.786536755971138, -31.84153069040285, -0.3314874350656971, -0.3551880182387772, -0.3755272353568684,
     -0.39282571498404345},
    {-0.13150893543009604, -0.0935675178102754, -0.06714343054215256, -0.04887572116125832, -0.25067142423786154,
     -0.1471493355356375, -0.09193463803613859, -0.06056843696087887, -0.2808925175767359, -0.1524356382803006,
     -0.09118618253931243, -0.05861487615369392, -0.03394661890794268, -0.0292991847815711, -0.025011731820159026,
     -0.02120189121641822},
    {0.04491352368386138, 0.03157399226610255, 0.021843966243619187, 0.01512081053892376, 0.14202055731553057,
     0.07358218292706452, 0.04066162884152814, 0.023851349695972957, 0.1886264825630138, 0.08496471631128713,
     0.04326582913617899, 0.02415814780503232, 0.004759059834878844, 0.004496090084045241, 0.004059883710932902,
     0.00355497274403983},
    {-0.012049567579783746, -0.0091983949339178, -0.00647488647841535, -0.004412093316170824, -0.07885026346088717,
     -0.0370204826880286, -0.018382597767518074, -0.00969933612900757, -0.1334586006798762, -0.05012351247867858,
     -0.021780361605354227, -0.01057915231555857, -0.00010383810686384808, -0.0002952671368517465,
     -0.00038701523079774614, -0.0004109063751703308},
    {0.0016182750197555917, 0.001975922860660553, 0.0016089513969551705, 0.0011488930843103335, 0.04080633189401215,
     0.017987771092763116, 0.008190745692985118, 0.0039385168130312365, 0.09447232029143333, 0.029963372227917895,
     0.011195721275688932, 0.004753758742520149, -0.00016762881820537792, -9.075415463550363e-05,
     -3.50981305404482e-05, 2.9074280974475895e-07},
};

// 2^(j/16), j = 0..15.
alignas(64) inline constexpr double kExp2Sixteenths[16] = {
    1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484,
    1.2968395546510096, 1.3542555469368927, 1.4142135623730951, 1.4768261459394993, 1.5422108254079407,
    1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};

// e^r on |r| <= ln2/32, degree 3 (Chebyshev fit, max error 1.2e-9), constant term first.
inline constexpr double kExpSmall[4] = {0.9999999988534117, 0.9999999997706833, 0.5000195499507185,
                                        0.1666705766415226};

// Inputs with a = |x| above this are saturated (GELU gives x or -0 in float, see
// kGeluSaturation); it keeps t = a + 1 below 16, inside the table.
inline constexpr double kGeluClamp = 14.75;

// table[index & 15] per lane: one vpermt2pd, the two halves of the table stay in registers.
ONNXMEMOPT_AVX512_INLINE __m512d Lookup16(const double* table, __m512i index) {
  return _mm512_permutex2var_pd(_mm512_load_pd(table), index, _mm512_load_pd(table + 8));
}

// e^z for z in [-1000, 0] (results down to 2^-1443 are produced with the right exponent by
// vscalefpd, so subnormal doubles come out right too): relative error about 1.3e-9.
ONNXMEMOPT_AVX512_INLINE __m512d ExpNonPositive(__m512d z) {
  // Adding 1.5 * 2^48 rounds z / ln2 to a multiple of 1/16: the sum holds n = round(16 z / ln2)
  // in its low mantissa bits, and subtracting it again gives n / 16 exactly.
  constexpr double kShift = 0x1.8p48;
  const __m512d shifted = _mm512_fmadd_pd(z, _mm512_set1_pd(1.4426950408889634), _mm512_set1_pd(kShift));
  const __m512d n16 = _mm512_sub_pd(shifted, _mm512_set1_pd(kShift));
  // ln2 as one double: |n / 16| <= 1443, so n / 16 * (its rounding error) stays below 1e-13.
  const __m512d r = _mm512_fnmadd_pd(n16, _mm512_set1_pd(0.6931471805599453), z);
  __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(kExpSmall[3]), r, _mm512_set1_pd(kExpSmall[2]));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kExpSmall[1]));
  p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kExpSmall[0]));
  // 2^(n/16) = 2^(j/16) 2^floor(n/16) with j = n mod 16, the low 4 bits of `shifted`; vscalefpd
  // applies 2^floor of its second operand.
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
    const __m512d a = _mm512_min_pd(_mm512_abs_pd(clamped_x), _mm512_set1_pd(kGeluClamp));  // NaN -> clamp
    const __m512i t = _mm512_castpd_si512(_mm512_add_pd(a, _mm512_set1_pd(1.0)));
    const __m512i slot = _mm512_srli_epi64(t, 50);
    // (t & low 50 bits) | bits of 1.0: the position inside the interval as w in [1, 1.25).
    const __m512i w = _mm512_ternarylogic_epi64(t, _mm512_set1_epi64((int64_t{1} << 50) - 1),
                                                _mm512_castpd_si512(_mm512_set1_pd(1.0)), 0xea);
    const __m512d v = _mm512_sub_pd(_mm512_castsi512_pd(w), _mm512_set1_pd(1.125));
    __m512d z = Lookup16(kLogNormalTail[6], slot);
    for (int k = 5; k >= 0; --k) z = _mm512_fmadd_pd(z, v, Lookup16(kLogNormalTail[k], slot));
    const __m512d tail = ExpNonPositive(z);  // Phi(-|x|)
    const __mmask8 negative = _mm512_movepi64_mask(_mm512_castpd_si512(x));
    const __m512d phi = _mm512_mask_mov_pd(_mm512_sub_pd(_mm512_set1_pd(1.0), tail), negative, tail);
    return _mm512_mul_pd(clamped_x, phi);
  }
};

// x sigmoid(alpha x) on 8 lanes, alpha > 0; the same branches as SiluActivation.
struct Silu {
  double alpha = 1.0;
  ONNXMEMOPT_AVX512_INLINE __m512d operator()(__m512d x) const {
    const __m512d scaled = _mm512_mul_pd(x, _mm512_set1_pd(alpha));
    // z = -min(|alpha x|, 200); NaN gives -200 here and NaN again in the last product.
    const __m512d minus_magnitude = _mm512_or_pd(scaled, _mm512_set1_pd(-0.0));
    const __m512d u = ExpNonPositive(_mm512_max_pd(minus_magnitude, _mm512_set1_pd(-200.0)));
    const __m512d d = _mm512_add_pd(_mm512_set1_pd(1.0), u);  // in (1, 2]
    const __m512d r0 = _mm512_rcp14_pd(d);
    const __m512d r = _mm512_fmadd_pd(r0, _mm512_fnmadd_pd(d, r0, _mm512_set1_pd(1.0)), r0);
    const __mmask8 negative = _mm512_movepi64_mask(_mm512_castpd_si512(x));
    const __m512d sigmoid = _mm512_mask_mul_pd(r, negative, r, u);
    const __m512d y = _mm512_mul_pd(x, sigmoid);
    const __mmask8 minus_infinity = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-INFINITY), _CMP_EQ_OQ);
    return _mm512_mask_mov_pd(y, minus_infinity, _mm512_set1_pd(-0.0));
  }
};

inline Gelu VectorTwin(const GeluActivation&) { return Gelu{}; }
inline Silu VectorTwin(const SiluActivation& activation) { return Silu{activation.alpha}; }

// y[i] = activation(x[i]) for float32, 8 lanes at a time in double; the tail uses masked loads.
template <typename Vector>
ONNXMEMOPT_AVX512_INLINE void Apply(const float* x, float* y, int64_t count, const Vector& activation) {
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512d lo = activation(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
    const __m512d hi = activation(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(lo));
    _mm256_storeu_ps(y + i + 8, _mm512_cvtpd_ps(hi));
  }
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(activation(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)))));
  }
  if (i < count) {
    const __mmask8 live = static_cast<__mmask8>((1u << (count - i)) - 1u);
    const __m256 in = _mm256_maskz_loadu_ps(live, x + i);
    _mm256_mask_storeu_ps(y + i, live, _mm512_cvtpd_ps(activation(_mm512_cvtps_pd(in))));
  }
}

}  // namespace onnxmemopt::approx::avx512

#pragma GCC diagnostic pop

#endif
