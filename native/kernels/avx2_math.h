// Vector math shared by the AVX2 kernel files (avx2.cpp and avx2_rows.cpp).
//
// Include only from files compiled with -mavx2 -mfma. Every function here is static, so each file gets its
// own copy: nothing compiled for AVX2 can become the copy the linker keeps for the baseline code.
#ifndef SIMD_NN_KERNELS_AVX2_MATH_H_
#define SIMD_NN_KERNELS_AVX2_MATH_H_

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "approx_constants.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx2 {

constexpr size_t kLanes = 8;

// Row kernels defined in avx2_rows.cpp; the kernel table lives in avx2.cpp.
void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes);
void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes);

// Returns the output size in bytes from which kernels write with non-temporal stores. Outputs that large
// would evict the whole last-level cache anyway, and streaming them skips the read for ownership that an
// ordinary store pays on each line.
size_t StreamingThresholdBytes();

static SIMD_NN_ALWAYS_INLINE __m256i LaneIndices() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }

// Returns a mask (all bits set per lane) of the first `count` lanes, for maskload, maskstore and gathers.
static SIMD_NN_ALWAYS_INLINE __m256i FirstLanes(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), LaneIndices());
}

// Returns the mask of the vector at offset k0 of a row of n elements.
static SIMD_NN_ALWAYS_INLINE __m256i ChunkMask(size_t k0, size_t n) {
  return FirstLanes(n - k0 >= kLanes ? kLanes : n - k0);
}

// Stores lanes [0, count) of v at p (all 8 where count is 8 or more) with ordinary stores of 32, 16, 8 and 4
// bytes, the way VMASKMOVPS would with FirstLanes(count). On an AMD EPYC of family 23 (Zen or Zen 2), a
// VMASKMOVPS store took about 12 cycles in a loop of them, whatever its mask: four times an ordinary store.
// Short rows paid it on every row: a quarter of the time of softmax over 10 classes (perf).
static SIMD_NN_ALWAYS_INLINE void StoreFirstLanes(float* p, __m256 v, size_t count) {
  if (count >= kLanes) {
    _mm256_storeu_ps(p, v);
    return;
  }
  __m128 part = _mm256_castps256_ps128(v);
  if ((count & 4) != 0) {
    _mm_storeu_ps(p, part);
    part = _mm256_extractf128_ps(v, 1);
    p += 4;
  }
  if ((count & 2) != 0) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    part = _mm_movehl_ps(part, part);
    p += 2;
  }
  if ((count & 1) != 0) {
    _mm_store_ss(p, part);
  }
}

// Returns the number of elements before `p` reaches a 32-byte boundary (0 to 7), the head that must be
// written with ordinary stores before aligned non-temporal stores can start.
static SIMD_NN_ALWAYS_INLINE size_t ElementsToAlignment(const float* p) {
  return ((32u - (reinterpret_cast<uintptr_t>(p) & 31u)) & 31u) / sizeof(float);
}

// MAXPS and MINPS return their second operand when either operand is NaN, so every clamp below passes the
// data as the second operand to keep NaN.
static SIMD_NN_ALWAYS_INLINE __m256 ClampExpArgument(__m256 x) {
  const __m256 low = _mm256_max_ps(_mm256_set1_ps(approx::kExpMinArg), x);
  return _mm256_min_ps(_mm256_set1_ps(approx::kExpMaxArg), low);
}

// e^x = 2^floor(n/8) * 2^((n mod 8)/8) * e^r with n = round(8 x / ln2) and |r| <= ln2/16.
struct ExpArgument {
  __m256 biased_n;  // n + kRoundingMagic: the low 3 bits of its encoding are n mod 8
  __m256 r_high;    // x - n * ln2_hi / 8, exact
  __m256 n;
};

static SIMD_NN_ALWAYS_INLINE ExpArgument ReduceExpArgument(__m256 x) {
  ExpArgument argument;
  argument.biased_n = _mm256_fmadd_ps(x, _mm256_set1_ps(8.0f * approx::kLog2e), _mm256_set1_ps(approx::kRoundingMagic));
  argument.n = _mm256_sub_ps(argument.biased_n, _mm256_set1_ps(approx::kRoundingMagic));
  argument.r_high = _mm256_fnmadd_ps(argument.n, _mm256_set1_ps(approx::kLn2Hi / 8.0f), x);
  return argument;
}

// Returns e^x from its reduced argument, r = r_high - n * ln2_lo / 8 computed by the caller, for
// n in [-1201, 1028] (x in [kExpMinArg, kExpMaxArg]).
//
// 2^(j/8) comes from a table as high + low parts, and the mantissa T_high + (T_high * s + T_low) with
// s = e^r - 1 = r + r^2 q(r) is rounded once, so the error stays close to 0.5 ulp. 2^floor(n/8) is applied
// as 2^(m >> 1) and then 2^(m - (m >> 1)): both factors are normal floats, the first product is exact, and
// the second rounds once, also into the subnormal range, or overflows to +inf.
// Returns the mantissa T_high + (T_high * s + T_low) ~ 2^((n mod 8)/8) * e^r of ExpFromReduced.
static SIMD_NN_ALWAYS_INLINE __m256 ExpMantissa(__m256 biased_n, __m256 r) {
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(approx::kExp8Poly2), r, _mm256_set1_ps(approx::kExp8Poly1));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(approx::kExp8Poly0));
  const __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r);
  const __m256i index = _mm256_castps_si256(biased_n);
  const __m256 table_high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(approx::kExp2Table8High), index);
  const __m256 table_low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(approx::kExp2Table8Low), index);
  return _mm256_add_ps(table_high, _mm256_fmadd_ps(table_high, s, table_low));
}

// Returns floor(n / 8) from biased_n = n + kRoundingMagic.
static SIMD_NN_ALWAYS_INLINE __m256i ExpPowerOfTwo(__m256 biased_n) {
  const __m256i magic_bits = _mm256_castps_si256(_mm256_set1_ps(approx::kRoundingMagic));
  return _mm256_srai_epi32(_mm256_sub_epi32(_mm256_castps_si256(biased_n), magic_bits), 3);
}

static SIMD_NN_ALWAYS_INLINE __m256 ExpFromReduced(__m256 biased_n, __m256 r) {
  const __m256 mantissa = ExpMantissa(biased_n, r);
  const __m256i m = ExpPowerOfTwo(biased_n);
  const __m256i m_low = _mm256_srai_epi32(m, 1);
  const __m256i m_high = _mm256_sub_epi32(m, m_low);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 scale_low = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(m_low, bias), 23));
  const __m256 scale_high = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(m_high, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(mantissa, scale_low), scale_high);
}

// Returns e^x for x in [kExpMinArg, kExpMaxArg] or NaN (callers clamp first).
static SIMD_NN_ALWAYS_INLINE __m256 ExpOfClamped(__m256 x) {
  const ExpArgument argument = ReduceExpArgument(x);
  const __m256 r = _mm256_fnmadd_ps(argument.n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), argument.r_high);
  return ExpFromReduced(argument.biased_n, r);
}

// kRoundingMagic plus 8 * 127. Rounding with it leaves n + 1016 = 8 (k + 127) + (n mod 8) in the low bits of the
// encoding, where k = floor(n / 8): the biased exponent of 2^k sits right above the table index.
constexpr float kRoundingMagicWithBias = approx::kRoundingMagic + 1016.0f;

// Returns 2^floor(n/8) from biased_n = n + kRoundingMagicWithBias, for n in [-1016, 1032), and 0 where
// 2^floor(n/8) is below 2^-126. Shifting the encoding left by 20 moves the bits of n + 1016 (below 2^11) into
// the exponent field and drops the magic's own bits, and the mask clears the table index below them.
static SIMD_NN_ALWAYS_INLINE __m256 PowerOfTwoOrZero(__m256 biased_n) {
  const __m256i shifted = _mm256_slli_epi32(_mm256_castps_si256(biased_n), 20);
  return _mm256_castsi256_ps(_mm256_and_si256(shifted, _mm256_set1_epi32(static_cast<int>(0xFF800000u))));
}

// Returns e^x from biased_n = n + kRoundingMagicWithBias (n = round(8 x / ln2), n in [-1016, 1032)) and the
// reduced argument r = x - n ln2/8: T_high 2^k (1 + s) with s = r + c_j + r^2 q(r), where c_j
// (kExp2Table8RelativeLow) replaces the low table part, and 2^k = PowerOfTwoOrZero(biased_n) scales T_high before
// the last FMA, off the end of the dependency chain. Results below 2^-126 come out as 0.
static SIMD_NN_ALWAYS_INLINE __m256 ExpFlushingSubnormals(__m256 biased_n, __m256 r) {
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(approx::kExp8Poly2), r, _mm256_set1_ps(approx::kExp8Poly1));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(approx::kExp8Poly0));
  const __m256i index = _mm256_castps_si256(biased_n);
  const __m256 relative_low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(approx::kExp2Table8RelativeLow), index);
  const __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, _mm256_add_ps(r, relative_low));
  const __m256 table_high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(approx::kExp2Table8High), index);
  const __m256 scaled_table = _mm256_mul_ps(table_high, PowerOfTwoOrZero(biased_n));
  return _mm256_fmadd_ps(scaled_table, s, scaled_table);
}

// The factor 2^kScaledExpLog2 of ExpShifted<true> and of the cross-entropy row exponentials (avx2_rows.cpp),
// and its inverse, which takes the sums back.
constexpr int kScaledExpLog2 = 32;
constexpr double kScaledExpUnscale = 1.0 / static_cast<double>(uint64_t{1} << kScaledExpLog2);

// Returns e^(x - m) for x <= m, both finite or -inf in x, as softmax and cross-entropy need it, times 2^32
// when kScaled is set. Results below 2^-126 are flushed to 0: from x - m = -87.34 on, or from -109.5 on with
// kScaled. Cross-entropy takes the scaled form, for the gradient of tiny labels: e^s / S - z with z = 1e-35
// needs e^s / S to a few ulp of z, far below 2^-126 (see the AVX-512 set's kRowExpScaleLog2).
//
// The float32 difference t = x - m can round (x = -0.1, m = 100), and e^t would then carry a relative error
// of |t| * 2^-24, dozens of ulp for |t| near 100. The rounding error of t is recovered exactly by TwoSum
// and added to the reduced argument instead, where it is small. It is left out where t is below the clamp
// (the result is 0 anyway) or NaN, which also drops the NaN that TwoSum makes of x = -inf.
//
// The exponential is ExpFlushingSubnormals, about 25 operations per 8 elements against 31 for ExpFromReduced,
// which rounds subnormal results. Cross-entropy sums whose terms could be subnormal take the exact path
// (ExpShiftedInDouble).
template <bool kScaled = false>
static SIMD_NN_ALWAYS_INLINE __m256 ExpShifted(__m256 x, __m256 m, __m256 neg_m) {
  // 2^32 adds 8 * 32 to the biased exponent bits. The clamp keeps n + 1016 (+ 256) non-negative.
  constexpr float kClamp = kScaled ? 110.0f : 88.0f;
  constexpr float kMagic = kScaled ? kRoundingMagicWithBias + 8.0f * kScaledExpLog2 : kRoundingMagicWithBias;
  static_assert(kClamp * 8.0 / approx::kLn2 < 1016.0 + (kScaled ? 8.0 * kScaledExpLog2 : 0.0),
                "the clamp must keep the biased exponent of n non-negative");
  const __m256 t = _mm256_sub_ps(x, m);
  const __m256 virtual_neg_m = _mm256_sub_ps(t, x);
  const __m256 virtual_x = _mm256_sub_ps(t, virtual_neg_m);
  const __m256 error = _mm256_add_ps(_mm256_sub_ps(x, virtual_x), _mm256_sub_ps(neg_m, virtual_neg_m));
  const __m256 in_range = _mm256_cmp_ps(t, _mm256_set1_ps(-kClamp), _CMP_GE_OQ);

  const __m256 clamped = _mm256_max_ps(_mm256_set1_ps(-kClamp), t);
  const __m256 biased_n = _mm256_fmadd_ps(clamped, _mm256_set1_ps(8.0f * approx::kLog2e), _mm256_set1_ps(kMagic));
  const __m256 n = _mm256_sub_ps(biased_n, _mm256_set1_ps(kMagic));
  const __m256 r_high = _mm256_add_ps(_mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Hi / 8.0f), clamped),
                                      _mm256_and_ps(in_range, error));
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r_high);

  return ExpFlushingSubnormals(biased_n, r);
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
static SIMD_NN_ALWAYS_INLINE void Log1pPdGroup(__m256d* u) {
  const __m256d one = _mm256_set1_pd(1.0);
  __m256d k[kCount];
  __m256d g[kCount];
#pragma GCC unroll 16
  for (size_t j = 0; j < kCount; ++j) {
    const __m256d w = _mm256_add_pd(one, u[j]);
    // k = exponent of w * sqrt(1/2), plus 1; w >= 1 keeps it non-negative.
    const __m256i scaled_bits = _mm256_castpd_si256(_mm256_mul_pd(w, _mm256_set1_pd(approx::kSqrtHalf)));
    const __m256i k_int = _mm256_sub_epi64(_mm256_srli_epi64(scaled_bits, 52), _mm256_set1_epi64x(1022));
    const __m256d two_k =
        _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(k_int, _mm256_set1_epi64x(1023)), 52));
    // k as a double: the bits of 2^52 + k, minus 2^52.
    const __m256d magic = _mm256_set1_pd(0x1p52);
    k[j] = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(k_int, _mm256_castpd_si256(magic))), magic);
    const __m256d numerator = _mm256_sub_pd(u[j], _mm256_sub_pd(two_k, one));
    const __m256d denominator = _mm256_add_pd(u[j], _mm256_add_pd(two_k, one));
    g[j] = _mm256_div_pd(numerator, denominator);
  }
#pragma GCC unroll 16
  for (size_t j = 0; j < kCount; ++j) {
    const __m256d g2 = _mm256_mul_pd(g[j], g[j]);
    __m256d q = _mm256_set1_pd(approx::kAtanhPoly4);
    q = _mm256_fmadd_pd(q, g2, _mm256_set1_pd(approx::kAtanhPoly3));
    q = _mm256_fmadd_pd(q, g2, _mm256_set1_pd(approx::kAtanhPoly2));
    q = _mm256_fmadd_pd(q, g2, _mm256_set1_pd(approx::kAtanhPoly1));
    q = _mm256_fmadd_pd(q, g2, _mm256_set1_pd(approx::kAtanhPoly0));
    const __m256d atanh_g = _mm256_fmadd_pd(_mm256_mul_pd(g[j], g2), q, g[j]);
    u[j] = _mm256_fmadd_pd(k[j], _mm256_set1_pd(approx::kLn2), _mm256_add_pd(atanh_g, atanh_g));
  }
}

static SIMD_NN_ALWAYS_INLINE __m256d Log1pPd(__m256d u) {
  Log1pPdGroup<1>(&u);
  return u;
}

// Widens the low and high halves of a float32 vector to float64.
static SIMD_NN_ALWAYS_INLINE __m256d LowToDouble(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static SIMD_NN_ALWAYS_INLINE __m256d HighToDouble(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

// Widens the low and high halves of a 32-bit lane mask to 64-bit lane masks.
static SIMD_NN_ALWAYS_INLINE __m256d LowMaskToDouble(__m256 mask) {
  return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(_mm256_castps_si256(mask))));
}
static SIMD_NN_ALWAYS_INLINE __m256d HighMaskToDouble(__m256 mask) {
  return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(_mm256_castps_si256(mask), 1)));
}

// Computes ExpShifted of the lanes set in `lanes`, widened to float64 with the power of two applied there,
// into low and high halves. Other lanes, and those where x - m is below kExpInDoubleMinArg, are 0. For x - m
// below about -87.3, ExpShifted returns 0. Here each term keeps a float32's precision. A sum of many such
// terms can be a normal number, and with huge labels even terms below 2^-150 reach the loss.
static SIMD_NN_ALWAYS_INLINE void ExpShiftedInDouble(__m256 x, __m256 m, __m256 neg_m, __m256 lanes, __m256d* low,
                                                     __m256d* high) {
  const __m256 t = _mm256_sub_ps(x, m);
  const __m256 virtual_neg_m = _mm256_sub_ps(t, x);
  const __m256 virtual_x = _mm256_sub_ps(t, virtual_neg_m);
  const __m256 error = _mm256_add_ps(_mm256_sub_ps(x, virtual_x), _mm256_sub_ps(neg_m, virtual_neg_m));
  const __m256 in_range = _mm256_and_ps(lanes, _mm256_cmp_ps(t, _mm256_set1_ps(approx::kExpInDoubleMinArg), _CMP_GE_OQ));

  const ExpArgument argument = ReduceExpArgument(_mm256_max_ps(_mm256_set1_ps(approx::kExpInDoubleMinArg), t));
  const __m256 r_high = _mm256_add_ps(argument.r_high, _mm256_and_ps(in_range, error));
  const __m256 r = _mm256_fnmadd_ps(argument.n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r_high);
  const __m256 mantissa = _mm256_and_ps(in_range, ExpMantissa(argument.biased_n, r));
  const __m256i k = ExpPowerOfTwo(argument.biased_n);
  const __m256i bias = _mm256_set1_epi64x(1023);
  const __m256d scale_low = _mm256_castsi256_pd(
      _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(k)), bias), 52));
  const __m256d scale_high = _mm256_castsi256_pd(
      _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(k, 1)), bias), 52));
  *low = _mm256_mul_pd(LowToDouble(mantissa), scale_low);
  *high = _mm256_mul_pd(HighToDouble(mantissa), scale_high);
}

// Rounds two float64 vectors to float32 and joins them, `low` in lanes 0-3.
static SIMD_NN_ALWAYS_INLINE __m256 JoinToFloat(__m256d low, __m256d high) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(low)), _mm256_cvtpd_ps(high), 1);
}

static SIMD_NN_ALWAYS_INLINE double ReduceAdd(__m256d v) {
  __m128d sum = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  sum = _mm_add_sd(sum, _mm_unpackhi_pd(sum, sum));
  return _mm_cvtsd_f64(sum);
}

}  // namespace avx2
}  // namespace simd_nn

#endif  // SIMD_NN_KERNELS_AVX2_MATH_H_
