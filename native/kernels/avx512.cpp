// AVX-512 kernel set: element-wise kernels, sigmoid cross-entropy, sum of squares and the kernel table.
// The row kernels (softmax, softmax cross-entropy) are in avx512_rows.cpp.
//
// Compiled with -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma. Everything here is intrinsics and
// plain code inside namespace simd_nn::avx512 (see kernel_set.h for why no inline or template code may be
// shared with other files). Tails use masked loads and stores around the same vector function as the body,
// so an element's result does not depend on where it sits.
#include <unistd.h>

#include "avx512_math.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx512 {

namespace {

size_t DetectStreamingThreshold() {
  // NOTE: glibc may report the last-level cache of the whole socket (384 MiB on a 2-core slice of an AMD EPYC
  // 9005), while one core effectively uses one CCX's L3 (32 MiB there). The cap is a judgment, not measured
  // on many CPUs: no current x86 core gets more than about 32 MiB of L3 for itself.
  constexpr long kMaxUsefulCacheBytes = 32L << 20;
  // Fallback when the C library cannot tell the cache sizes.
  constexpr long kDefaultLastLevelCacheBytes = 8L << 20;
  long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (bytes <= 0) {
    bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  }
  if (bytes <= 0) {
    bytes = kDefaultLastLevelCacheBytes;
  }
  return static_cast<size_t>(bytes < kMaxUsefulCacheBytes ? bytes : kMaxUsefulCacheBytes);
}

}  // namespace

size_t StreamingThresholdBytes() {
  static const size_t threshold = DetectStreamingThreshold();
  return threshold;
}

namespace {

using BlockFunction = void (*)(__m512* block);
using BinaryVectorFunction = __m512 (*)(__m512, __m512);

// Element-wise kernels work on blocks of kBlockVectors vectors and run each step of their computation over
// the whole block before the next step. The steps of one vector form a long dependency chain (exp, then a
// division), and eight independent chains side by side let the out-of-order core keep its FP ports busy.
// One vector at a time ran about 25% slower on AMD Zen 5 (sigmoid, measured with tools/quickbench.mjs).
constexpr size_t kBlockVectors = 8;
constexpr size_t kBlockElements = kBlockVectors * kLanes;

// Loads elements [i, n) of x into a block, zero-filling the lanes past n; writes them back alike.
SIMD_NN_ALWAYS_INLINE void LoadPartialBlock(const float* x, size_t i, size_t n, __m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const size_t first = i + k * kLanes;
    const __mmask16 mask = first >= n ? static_cast<__mmask16>(0) : ChunkMask(first, n);
    block[k] = _mm512_maskz_loadu_ps(mask, x + (first >= n ? i : first));
  }
}

SIMD_NN_ALWAYS_INLINE void StorePartialBlock(float* y, size_t i, size_t n, const __m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const size_t first = i + k * kLanes;
    if (first < n) {
      _mm512_mask_storeu_ps(y + first, ChunkMask(first, n), block[k]);
    }
  }
}

// Applies f to x[0, n) and writes y[0, n). y may be exactly x: each block is read before it is written.
// Large outputs are written with non-temporal stores after an ordinary head that aligns y to 64 bytes.
// Partial blocks (the head and the tail) go through the same f, so every element is computed alike.
SIMD_NN_ALWAYS_INLINE void MapElements(const float* x, float* y, size_t n, BlockFunction f) {
  __m512 block[kBlockVectors];
  size_t i = 0;
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  if (streaming) {
    const size_t head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
    if (head != 0) {
      LoadPartialBlock(x, 0, head, block);
      f(block);
      StorePartialBlock(y, 0, head, block);
    }
    for (i = head; i + kBlockElements <= n; i += kBlockElements) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        block[k] = _mm512_loadu_ps(x + i + k * kLanes);
      }
      f(block);
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        _mm512_stream_ps(y + i + k * kLanes, block[k]);
      }
    }
  } else {
    for (; i + kBlockElements <= n; i += kBlockElements) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        block[k] = _mm512_loadu_ps(x + i + k * kLanes);
      }
      f(block);
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        _mm512_storeu_ps(y + i + k * kLanes, block[k]);
      }
    }
  }
  if (i < n) {
    LoadPartialBlock(x, i, n, block);
    f(block);
    StorePartialBlock(y, i, n, block);
  }
  if (streaming) {
    _mm_sfence();
  }
}

// Applies f to a[0, n) and b[0, n) pairwise, one vector at a time, and writes y[0, n); y may be exactly a
// or b.
SIMD_NN_ALWAYS_INLINE void MapElementPairs(const float* a, const float* b, float* y, size_t n,
                                           BinaryVectorFunction f) {
  size_t i = 0;
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  if (streaming) {
    const size_t head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
    if (head != 0) {
      const __mmask16 mask = FirstLanes(head);
      _mm512_mask_storeu_ps(y, mask, f(_mm512_maskz_loadu_ps(mask, a), _mm512_maskz_loadu_ps(mask, b)));
    }
    for (i = head; i + kLanes <= n; i += kLanes) {
      _mm512_stream_ps(y + i, f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    }
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    }
  }
  if (i < n) {
    const __mmask16 mask = FirstLanes(n - i);
    _mm512_mask_storeu_ps(y + i, mask, f(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i)));
  }
  if (streaming) {
    _mm_sfence();
  }
}

// Replaces each clamped argument in the block by its exponential, step by step over the block.
SIMD_NN_ALWAYS_INLINE void ExpOfClampedBlock(__m512* block) {
  __m512 biased_n[kBlockVectors];
  __m512 n[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const ExpArgument argument = ReduceExpArgument(block[k]);
    biased_n[k] = argument.biased_n;
    n[k] = argument.n;
    block[k] = argument.r_high;
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = _mm512_fnmadd_ps(n[k], _mm512_set1_ps(approx::kLn2Lo / 16.0f), block[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = ExpFromReduced(biased_n[k], block[k]);
  }
}

void ReluBlock(__m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    // max(0, x) returns its second operand for NaN, so NaN stays NaN; relu(-0) is -0.
    block[k] = _mm512_max_ps(_mm512_setzero_ps(), block[k]);
  }
}

void ExpBlock(__m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = ClampExpArgument(block[k]);
  }
  ExpOfClampedBlock(block);
}

// Replaces each d = 1 + E in `denominator` (with E given) by 1 / (1 + E), correctly rounded up to the
// error of E.
//
// Rounding 1 + E alone can cost a whole ulp of the result, so the quotient is corrected for it:
// d_low = min(1, E) - (d - max(1, E)) is the exact rounding error of d (Fast2Sum), q0 = fl(1 / d), the
// remainder 1 - q0 d is exact in one FMA, and 1 / (d + d_low) = q0 + q0 (1 - q0 d - q0 d_low) to far below
// an ulp, so the result is rounded once more only.
SIMD_NN_ALWAYS_INLINE void ReciprocalOfOnePlusBlock(const __m512* e, __m512* denominator) {
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 denominator_low[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m512 rounding = _mm512_sub_ps(denominator[k], _mm512_max_ps(one, e[k]));
    denominator_low[k] = _mm512_sub_ps(_mm512_min_ps(one, e[k]), rounding);
  }
  __m512 quotient[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    quotient[k] = _mm512_div_ps(one, denominator[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m512 remainder = _mm512_fnmadd_ps(quotient[k], denominator[k], one);
    const __m512 correction = _mm512_fnmadd_ps(quotient[k], denominator_low[k], remainder);
    // For E = +inf the correction is NaN (inf - inf) while the quotient 0 is exact: keep the quotient.
    const __mmask16 ordered = _mm512_cmp_ps_mask(correction, correction, _CMP_ORD_Q);
    denominator[k] = _mm512_mask3_fmadd_ps(correction, quotient[k], quotient[k], ordered);
  }
}

// sigmoid(x) = 1 / (1 + e^-x). e^-x overflows to +inf for x below -88.7, giving 0 where the exact result is
// below 2^-126 (which the contract allows to flush), and the exact 0 at x = -inf; NaN stays NaN.
void SigmoidBlock(__m512* block) {
  const __m512 one = _mm512_set1_ps(1.0f);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = ClampExpArgument(_mm512_sub_ps(_mm512_setzero_ps(), block[k]));
  }
  ExpOfClampedBlock(block);
  __m512 result[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    result[k] = _mm512_add_ps(one, block[k]);
  }
  ReciprocalOfOnePlusBlock(block, result);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = result[k];
  }
}

// tanh(|x|) from an odd polynomial below kTanhPolyLimit and from 1 - 2 / (1 + e^(2|x|)) above, then x's
// sign bit is copied in (so -0 stays -0). Both forms stay below 1: the polynomial because the limit is
// small, the other because 2 / (1 + E) >= 0. |x| is clamped to kTanhSaturation, where the result has
// rounded to 1, so e^(2|x|) stays below e^18.2.
void TanhBlock(__m512* block) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 sign_bit = _mm512_set1_ps(-0.0f);
  __m512 small[kBlockVectors];
  __m512 doubled[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m512 a = _mm512_andnot_ps(sign_bit, block[k]);
    const __m512 u = _mm512_mul_ps(a, a);
    __m512 p = _mm512_set1_ps(approx::kTanhPoly4);
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(approx::kTanhPoly3));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(approx::kTanhPoly2));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(approx::kTanhPoly1));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(approx::kTanhPoly0));
    small[k] = _mm512_fmadd_ps(_mm512_mul_ps(a, u), p, a);
    const __m512 clamped = _mm512_min_ps(_mm512_set1_ps(approx::kTanhSaturation), a);
    doubled[k] = _mm512_add_ps(clamped, clamped);
  }
  ExpOfClampedBlock(doubled);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m512 q = _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, doubled[k]));
    const __m512 large = _mm512_sub_ps(one, q);
    const __m512 a = _mm512_andnot_ps(sign_bit, block[k]);
    const __mmask16 use_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(approx::kTanhPolyLimit), _CMP_LT_OQ);
    const __m512 magnitude = _mm512_mask_blend_ps(use_small, large, small[k]);
    block[k] = _mm512_or_ps(magnitude, _mm512_and_ps(block[k], sign_bit));
  }
}

// Returns max(x, 0) - x z + log1p(e^-|x|) for 8 lanes in float64: the linear part x (1 - z) or -x z is
// exact there, and the sum is rounded to float32 once by the caller.
SIMD_NN_ALWAYS_INLINE __m512d SigmoidXentHalf(__m512d z, __m512d x, __m512d e, __mmask8 nonnegative) {
  const __m512d factor = _mm512_sub_pd(_mm512_maskz_mov_pd(nonnegative, _mm512_set1_pd(1.0)), z);
  return _mm512_fmadd_pd(x, factor, Log1pPd(e));
}

SIMD_NN_ALWAYS_INLINE __m512 SigmoidXentVector(__m512 z, __m512 x) {
  const __m512 minus_abs = _mm512_or_ps(x, _mm512_set1_ps(-0.0f));
  const __m512 e = ExpOfClamped(_mm512_max_ps(_mm512_set1_ps(approx::kExpMinArg), minus_abs));
  const __mmask16 nonnegative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  const __m512d low = SigmoidXentHalf(LowToDouble(z), LowToDouble(x), LowToDouble(e),
                                      static_cast<__mmask8>(nonnegative));
  const __m512d high = SigmoidXentHalf(HighToDouble(z), HighToDouble(x), HighToDouble(e),
                                       static_cast<__mmask8>(nonnegative >> 8));
  __m512 result = JoinToFloat(low, high);

  // At x = +-inf the formula subtracts infinities. The limits are (1 - z) * inf for +inf and z * inf for
  // -inf, and 0 where the label makes the infinite term vanish (z = 1 and z = 0 respectively).
  const __m512 inf = _mm512_set1_ps(__builtin_inff());
  const __mmask16 positive_inf = _mm512_cmp_ps_mask(x, inf, _CMP_EQ_OQ);
  const __mmask16 negative_inf = _mm512_cmp_ps_mask(x, _mm512_sub_ps(_mm512_setzero_ps(), inf), _CMP_EQ_OQ);
  if ((positive_inf | negative_inf) != 0) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __mmask16 label_one = _mm512_cmp_ps_mask(z, one, _CMP_EQ_OQ);
    const __mmask16 label_zero = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_EQ_OQ);
    const __m512 positive_limit = _mm512_maskz_mul_ps(~label_one, _mm512_sub_ps(one, z), inf);
    const __m512 negative_limit = _mm512_maskz_mul_ps(~label_zero, z, inf);
    result = _mm512_mask_blend_ps(positive_inf, result, positive_limit);
    result = _mm512_mask_blend_ps(negative_inf, result, negative_limit);
  }
  return result;
}

void Relu(const float* x, float* y, size_t n) { MapElements(x, y, n, ReluBlock); }
void Sigmoid(const float* x, float* y, size_t n) { MapElements(x, y, n, SigmoidBlock); }
void Tanh(const float* x, float* y, size_t n) { MapElements(x, y, n, TanhBlock); }
void Exp(const float* x, float* y, size_t n) { MapElements(x, y, n, ExpBlock); }

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  MapElementPairs(labels, logits, out, n, SigmoidXentVector);
}

// Squares are exact in float64 (24-bit significands), and four accumulators of 8 lanes keep the FMA
// latency hidden.
double SumSquares(const float* x, size_t n) {
  __m512d sum0 = _mm512_setzero_pd();
  __m512d sum1 = _mm512_setzero_pd();
  __m512d sum2 = _mm512_setzero_pd();
  __m512d sum3 = _mm512_setzero_pd();
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const __m512 v0 = _mm512_loadu_ps(x + i);
    const __m512 v1 = _mm512_loadu_ps(x + i + kLanes);
    const __m512d d0 = LowToDouble(v0);
    const __m512d d1 = HighToDouble(v0);
    const __m512d d2 = LowToDouble(v1);
    const __m512d d3 = HighToDouble(v1);
    sum0 = _mm512_fmadd_pd(d0, d0, sum0);
    sum1 = _mm512_fmadd_pd(d1, d1, sum1);
    sum2 = _mm512_fmadd_pd(d2, d2, sum2);
    sum3 = _mm512_fmadd_pd(d3, d3, sum3);
  }
  for (; i < n; i += kLanes) {
    const __mmask16 mask = n - i >= kLanes ? static_cast<__mmask16>(0xFFFF) : FirstLanes(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    const __m512d d0 = LowToDouble(v);
    const __m512d d1 = HighToDouble(v);
    sum0 = _mm512_fmadd_pd(d0, d0, sum0);
    sum1 = _mm512_fmadd_pd(d1, d1, sum1);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(sum0, sum1), _mm512_add_pd(sum2, sum3)));
}

}  // namespace

extern const KernelSet kKernelSet = {
    "avx512", Relu, Sigmoid, Tanh, Exp, SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace avx512
}  // namespace simd_nn
