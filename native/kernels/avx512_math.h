// Vector math shared by the AVX-512 kernel files (avx512.cpp and avx512_rows.cpp).
//
// Include only from files compiled with the AVX-512 flags. Every function here is static, so each file gets
// its own copy: nothing compiled for AVX-512 can become the copy the linker keeps for another instruction set.
#ifndef SIMD_NN_KERNELS_AVX512_MATH_H_
#define SIMD_NN_KERNELS_AVX512_MATH_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "approx_constants.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx512 {

constexpr size_t kLanes = 16;

// Row kernels defined in avx512_rows.cpp; the kernel table lives in avx512.cpp.
void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes);
void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes);

// Returns the output size in bytes from which kernels write with non-temporal stores. Outputs that large
// would evict the whole last-level cache anyway, and streaming them skips the read for ownership that an
// ordinary store pays on each line.
size_t StreamingThresholdBytes();

// Returns a mask of the first `count` lanes; count must be below 16.
static SIMD_NN_ALWAYS_INLINE __mmask16 FirstLanes(size_t count) {
  return static_cast<__mmask16>((1u << count) - 1u);
}

// Returns the mask of the vector at offset k0 (< n) of a row of n elements.
static SIMD_NN_ALWAYS_INLINE __mmask16 ChunkMask(size_t k0, size_t n) {
  return n - k0 >= kLanes ? static_cast<__mmask16>(0xFFFF) : FirstLanes(n - k0);
}

// Returns a mask of the last `count` lanes; count must be at most 16.
static SIMD_NN_ALWAYS_INLINE __mmask16 LastLanes(size_t count) {
  return static_cast<__mmask16>(0xFFFFu << (kLanes - count));
}

// Returns the address of the vector whose last `count` lanes are p[0, count): with LastLanes(count) as the
// mask, a load or store through it touches only p[0, count). A head written so before non-temporal stores
// that start at p + count, on a 64-byte boundary, stays in its own line. A masked store that starts at p
// reaches into the next line (masked-off lanes included), and when that line is the first one the
// non-temporal stores write, softmax of 16M elements ran about 40% slower (AMD Zen 5).
static SIMD_NN_ALWAYS_INLINE float* VectorEndingAt(float* p, size_t count) {
  return reinterpret_cast<float*>(reinterpret_cast<uintptr_t>(p) - (kLanes - count) * sizeof(float));
}
static SIMD_NN_ALWAYS_INLINE const float* VectorEndingAt(const float* p, size_t count) {
  return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(p) - (kLanes - count) * sizeof(float));
}

// Returns the number of elements before `p` reaches a 64-byte boundary (0 to 15), the head that must be
// written with ordinary stores before aligned non-temporal stores can start.
static SIMD_NN_ALWAYS_INLINE size_t ElementsToAlignment(const float* p) {
  return ((64u - (reinterpret_cast<uintptr_t>(p) & 63u)) & 63u) / sizeof(float);
}

// MAXPS and MINPS return their second operand when either operand is NaN, so every clamp below passes the
// data as the second operand to keep NaN.
static SIMD_NN_ALWAYS_INLINE __m512 ClampExpArgument(__m512 x) {
  const __m512 low = _mm512_max_ps(_mm512_set1_ps(approx::kExpMinArg), x);
  return _mm512_min_ps(_mm512_set1_ps(approx::kExpMaxArg), low);
}

// e^x = 2^floor(n/16) * 2^((n mod 16)/16) * e^r with n = round(16 x / ln2) and |r| <= ln2/32.
struct ExpArgument {
  __m512 biased_n;  // n + kRoundingMagic: the low 4 bits of its encoding are n mod 16
  __m512 r_high;    // x - n * ln2_hi / 16, exact
  __m512 n;
};

static SIMD_NN_ALWAYS_INLINE ExpArgument ReduceExpArgument(__m512 x) {
  ExpArgument argument;
  argument.biased_n = _mm512_fmadd_ps(x, _mm512_set1_ps(16.0f * approx::kLog2e), _mm512_set1_ps(approx::kRoundingMagic));
  argument.n = _mm512_sub_ps(argument.biased_n, _mm512_set1_ps(approx::kRoundingMagic));
  argument.r_high = _mm512_fnmadd_ps(argument.n, _mm512_set1_ps(approx::kLn2Hi / 16.0f), x);
  return argument;
}

// Returns the mantissa T_high + (T_high * s + T_low) ~ 2^((n mod 16)/16) * e^r of ExpFromReduced.
static SIMD_NN_ALWAYS_INLINE __m512 ExpMantissa(__m512i index, __m512 r) {
  const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(approx::kExp16Poly1), r, _mm512_set1_ps(approx::kExp16Poly0));
  const __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r);
  const __m512 table_high = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16High));
  const __m512 table_low = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16Low));
  return _mm512_add_ps(table_high, _mm512_fmadd_ps(table_high, s, table_low));
}

// Returns e^x from its reduced argument, r = r_high - n * ln2_lo / 16 computed by the caller.
//
// 2^(j/16) comes from a table as high + low parts, and e^(x) = 2^floor(n/16) * (T_high + (T_high * s + T_low))
// with s = e^r - 1 = r + r^2 q(r): one rounding near the final value, so the error stays close to 0.5 ulp.
// scalef applies 2^floor(n/16) exactly, rounding once more only for a subnormal result and saturating to
// +inf on overflow. floor(n/16) needs no integer conversion: lowering the exponent of n + magic by 4 gives
// n/16 + magic/16 exactly, and scalef floors its second operand.
static SIMD_NN_ALWAYS_INLINE __m512 ExpFromReduced(__m512 biased_n, __m512 r) {
  const __m512i index = _mm512_castps_si512(biased_n);
  const __m512 mantissa = ExpMantissa(index, r);
  const __m512 biased_n_over_16 = _mm512_castsi512_ps(_mm512_sub_epi32(index, _mm512_set1_epi32(4 << 23)));
  const __m512 n_over_16 = _mm512_sub_ps(biased_n_over_16, _mm512_set1_ps(approx::kRoundingMagic / 16.0f));
  return _mm512_scalef_ps(mantissa, n_over_16);
}

// kRoundingMagic plus 16 * 127. Rounding with it leaves n + 2032 = 16 (k + 127) + (n mod 16) in the low bits of
// the encoding, where k = floor(n / 16): the biased exponent of 2^k sits right above the table index.
constexpr float kRoundingMagicWithBias = approx::kRoundingMagic + 2032.0f;

// Returns 2^floor(n/16) from biased_n = n + kRoundingMagicWithBias, for n in [-2032, 6160), and 0 where
// 2^floor(n/16) is below 2^-126. Shifting the encoding left by 19 moves the bits of n + 2032 (below 2^13) into
// the exponent field and drops the magic's own bits, and the mask clears the table index below them. This
// costs integer operations only, where scalef would occupy the floating-point adders.
static SIMD_NN_ALWAYS_INLINE __m512 PowerOfTwoOrZero(__m512 biased_n) {
  const __m512i shifted = _mm512_slli_epi32(_mm512_castps_si512(biased_n), 19);
  return _mm512_castsi512_ps(_mm512_and_si512(shifted, _mm512_set1_epi32(static_cast<int>(0xFF800000u))));
}

// Returns e^(x - m) for x <= m, both finite or -inf in x, as softmax and cross-entropy need it.
//
// The float32 difference t = x - m can round (x = -0.1, m = 100), and e^t would then carry a relative error
// of |t| * 2^-24, dozens of ulp for |t| near 100. The rounding error of t is recovered exactly by TwoSum
// and added to the reduced argument instead, where it is small. It is left out where t is below
// kExpMinArg (the result is 0 anyway) or NaN, which also drops the NaN that TwoSum makes of x = -inf.
// Subnormal results are exact to one rounding: cross-entropy sums them, and a sum of many of them can be a
// normal float that the loss depends on.
static SIMD_NN_ALWAYS_INLINE __m512 ExpShifted(__m512 x, __m512 m, __m512 neg_m) {
  const __m512 t = _mm512_sub_ps(x, m);
  const __m512 virtual_neg_m = _mm512_sub_ps(t, x);
  const __m512 virtual_x = _mm512_sub_ps(t, virtual_neg_m);
  const __m512 error = _mm512_add_ps(_mm512_sub_ps(x, virtual_x), _mm512_sub_ps(neg_m, virtual_neg_m));
  const __mmask16 in_range = _mm512_cmp_ps_mask(t, _mm512_set1_ps(approx::kExpMinArg), _CMP_GE_OQ);

  const __m512 clamped = _mm512_max_ps(_mm512_set1_ps(approx::kExpMinArg), t);
  const ExpArgument argument = ReduceExpArgument(clamped);
  const __m512 r_high = _mm512_mask_add_ps(argument.r_high, in_range, argument.r_high, error);
  const __m512 r = _mm512_fnmadd_ps(argument.n, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r_high);
  return ExpFromReduced(argument.biased_n, r);
}

// Returns `value` with the lanes where x is NaN replaced by x.
static SIMD_NN_ALWAYS_INLINE __m512 PropagateNaN(__m512 x, __m512 value) {
  return _mm512_mask_mov_ps(value, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

// Returns log1p(u) in float64 for u >= 0 or NaN, within about 2^-44 relative error.
//
// With 1 + u = 2^k * f and f in [sqrt(1/2), sqrt(2)), log1p(u) = k ln2 + 2 atanh(g) where
// g = (f - 1) / (f + 1) = (u + 1 - 2^k) / (u + 1 + 2^k). The numerator is formed from u itself, so a u far
// below 2^-53 (a dominant class in cross-entropy) keeps its value instead of vanishing in 1 + u.
//
// Log1pPdGroup replaces each of `kCount` vectors by its log1p, one step at a time over the group, so that the
// out-of-order core finds independent work next to each step. Log1pPd is the group of one.
template <size_t kCount>
static SIMD_NN_ALWAYS_INLINE void Log1pPdGroup(__m512d* u) {
  const __m512d one = _mm512_set1_pd(1.0);
  __m512d k[kCount];
  __m512d g[kCount];
#pragma GCC unroll 16
  for (size_t j = 0; j < kCount; ++j) {
    const __m512d w = _mm512_add_pd(one, u[j]);
    k[j] = _mm512_add_pd(_mm512_getexp_pd(_mm512_mul_pd(w, _mm512_set1_pd(approx::kSqrtHalf))), one);
  }
#pragma GCC unroll 16
  for (size_t j = 0; j < kCount; ++j) {
    const __m512d two_k = _mm512_scalef_pd(one, k[j]);
    const __m512d numerator = _mm512_sub_pd(u[j], _mm512_sub_pd(two_k, one));
    const __m512d denominator = _mm512_add_pd(u[j], _mm512_add_pd(two_k, one));
    g[j] = _mm512_div_pd(numerator, denominator);
  }
#pragma GCC unroll 16
  for (size_t j = 0; j < kCount; ++j) {
    const __m512d g2 = _mm512_mul_pd(g[j], g[j]);
    __m512d q = _mm512_set1_pd(approx::kAtanhPoly4);
    q = _mm512_fmadd_pd(q, g2, _mm512_set1_pd(approx::kAtanhPoly3));
    q = _mm512_fmadd_pd(q, g2, _mm512_set1_pd(approx::kAtanhPoly2));
    q = _mm512_fmadd_pd(q, g2, _mm512_set1_pd(approx::kAtanhPoly1));
    q = _mm512_fmadd_pd(q, g2, _mm512_set1_pd(approx::kAtanhPoly0));
    const __m512d atanh_g = _mm512_fmadd_pd(_mm512_mul_pd(g[j], g2), q, g[j]);
    u[j] = _mm512_fmadd_pd(k[j], _mm512_set1_pd(approx::kLn2), _mm512_add_pd(atanh_g, atanh_g));
  }
}

static SIMD_NN_ALWAYS_INLINE __m512d Log1pPd(__m512d u) {
  Log1pPdGroup<1>(&u);
  return u;
}

// Widens the low and high halves of a float32 vector to float64.
static SIMD_NN_ALWAYS_INLINE __m512d LowToDouble(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static SIMD_NN_ALWAYS_INLINE __m512d HighToDouble(__m512 v) {
  return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

// Computes ExpShifted of the lanes in `mask`, widened to float64 with the power of two applied there, into
// low and high halves. Lanes outside the mask, and those where x - m is below kExpInDoubleMinArg, are 0. For
// x - m below about -87.3, ExpShifted rounds its result to a subnormal float32, off by up to 2^-150, and below
// -104 to 0. Here it keeps a float32's precision. A sum of many such terms can be a normal number, and with
// huge labels even terms below 2^-150 reach the loss.
static SIMD_NN_ALWAYS_INLINE void ExpShiftedInDouble(__m512 x, __m512 m, __m512 neg_m, __mmask16 mask, __m512d* low,
                                                     __m512d* high) {
  const __m512 t = _mm512_sub_ps(x, m);
  const __m512 virtual_neg_m = _mm512_sub_ps(t, x);
  const __m512 virtual_x = _mm512_sub_ps(t, virtual_neg_m);
  const __m512 error = _mm512_add_ps(_mm512_sub_ps(x, virtual_x), _mm512_sub_ps(neg_m, virtual_neg_m));
  const __mmask16 in_range =
      _mm512_mask_cmp_ps_mask(mask, t, _mm512_set1_ps(approx::kExpInDoubleMinArg), _CMP_GE_OQ);

  const ExpArgument argument = ReduceExpArgument(_mm512_max_ps(_mm512_set1_ps(approx::kExpInDoubleMinArg), t));
  const __m512 r_high = _mm512_mask_add_ps(argument.r_high, in_range, argument.r_high, error);
  const __m512 r = _mm512_fnmadd_ps(argument.n, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r_high);
  const __m512i index = _mm512_castps_si512(argument.biased_n);
  const __m512 mantissa = _mm512_maskz_mov_ps(in_range, ExpMantissa(index, r));
  const __m512 biased_n_over_16 = _mm512_castsi512_ps(_mm512_sub_epi32(index, _mm512_set1_epi32(4 << 23)));
  const __m512 n_over_16 = _mm512_sub_ps(biased_n_over_16, _mm512_set1_ps(approx::kRoundingMagic / 16.0f));
  *low = _mm512_scalef_pd(LowToDouble(mantissa), LowToDouble(n_over_16));
  *high = _mm512_scalef_pd(HighToDouble(mantissa), HighToDouble(n_over_16));
}

// Rounds two float64 vectors to float32 and joins them, `low` in lanes 0-7.
static SIMD_NN_ALWAYS_INLINE __m512 JoinToFloat(__m512d low, __m512d high) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(low)), _mm512_cvtpd_ps(high), 1);
}

}  // namespace avx512
}  // namespace simd_nn

#endif  // SIMD_NN_KERNELS_AVX512_MATH_H_
