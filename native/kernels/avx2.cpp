// AVX2 kernel set: element-wise kernels, sigmoid cross-entropy, sum of squares and the kernel table.
// The row kernels (softmax, softmax cross-entropy) are in avx2_rows.cpp.
//
// Compiled with -mavx2 -mfma. Everything here is intrinsics and plain code inside namespace simd_nn::avx2
// (see kernel_set.h for why no inline or template code may be shared with other files). Tails use
// maskload/maskstore around the same vector function as the body, so an element's result does not depend on
// where it sits.
#include <unistd.h>

#include "avx2_math.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx2 {
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

using VectorFunction = __m256 (*)(__m256);

// Vectors per loop step of MapElements. The kernels that use it are compiled with GCC's first instruction
// scheduling pass (off by default on x86), which interleaves the vectors' independent dependency chains. In
// source order, each vector's long chain (exp, then a division) filled the out-of-order window alone, and
// sigmoid ran about 20% slower (AMD Zen 5).
constexpr size_t kUnroll = 4;
#define SIMD_NN_INTERLEAVE __attribute__((optimize("schedule-insns")))
using BinaryVectorFunction = __m256 (*)(__m256, __m256);

// Applies f to x[0, n) and writes y[0, n). y may be exactly x: each vector is read before it is written.
// Large outputs are written with non-temporal stores after an ordinary head that aligns y to 32 bytes.
SIMD_NN_ALWAYS_INLINE void MapElements(const float* x, float* y, size_t n, VectorFunction f) {
  size_t i = 0;
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  if (streaming) {
    const size_t head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
    if (head != 0) {
      const __m256i mask = FirstLanes(head);
      _mm256_maskstore_ps(y, mask, f(_mm256_maskload_ps(x, mask)));
    }
    for (i = head; i + kUnroll * kLanes <= n; i += kUnroll * kLanes) {
      __m256 v[kUnroll];
#pragma GCC unroll 4
      for (size_t k = 0; k < kUnroll; ++k) {
        v[k] = _mm256_loadu_ps(x + i + k * kLanes);
      }
#pragma GCC unroll 4
      for (size_t k = 0; k < kUnroll; ++k) {
        _mm256_stream_ps(y + i + k * kLanes, f(v[k]));
      }
    }
    for (; i + kLanes <= n; i += kLanes) {
      _mm256_stream_ps(y + i, f(_mm256_loadu_ps(x + i)));
    }
  } else {
    for (; i + kUnroll * kLanes <= n; i += kUnroll * kLanes) {
      __m256 v[kUnroll];
#pragma GCC unroll 4
      for (size_t k = 0; k < kUnroll; ++k) {
        v[k] = _mm256_loadu_ps(x + i + k * kLanes);
      }
#pragma GCC unroll 4
      for (size_t k = 0; k < kUnroll; ++k) {
        _mm256_storeu_ps(y + i + k * kLanes, f(v[k]));
      }
    }
    for (; i + kLanes <= n; i += kLanes) {
      _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
    }
  }
  if (i < n) {
    const __m256i mask = FirstLanes(n - i);
    _mm256_maskstore_ps(y + i, mask, f(_mm256_maskload_ps(x + i, mask)));
  }
  if (streaming) {
    _mm_sfence();
  }
}

// MapElements for a function of two inputs; y may be exactly a or b.
SIMD_NN_ALWAYS_INLINE void MapElementPairs(const float* a, const float* b, float* y, size_t n,
                                           BinaryVectorFunction f) {
  size_t i = 0;
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  if (streaming) {
    const size_t head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
    if (head != 0) {
      const __m256i mask = FirstLanes(head);
      _mm256_maskstore_ps(y, mask, f(_mm256_maskload_ps(a, mask), _mm256_maskload_ps(b, mask)));
    }
    for (i = head; i + kLanes <= n; i += kLanes) {
      _mm256_stream_ps(y + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    }
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    }
  }
  if (i < n) {
    const __m256i mask = FirstLanes(n - i);
    _mm256_maskstore_ps(y + i, mask, f(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask)));
  }
  if (streaming) {
    _mm_sfence();
  }
}

SIMD_NN_ALWAYS_INLINE __m256 ReluVector(__m256 x) {
  // max(0, x) returns its second operand for NaN, so NaN stays NaN; relu(-0) is -0.
  return _mm256_max_ps(_mm256_setzero_ps(), x);
}

SIMD_NN_ALWAYS_INLINE __m256 ExpVector(__m256 x) { return ExpOfClamped(ClampExpArgument(x)); }

// sigmoid(x) = e / (1 + e) for x < 0 and 1 / (1 + e) otherwise, with e = e^-|x| in (0, 1], so nothing
// overflows and the result stays in [0, 1].
//
// Rounding 1 + e alone can cost a whole ulp of the result, so the quotient is corrected for it: with
// d = fl(1 + e), d_low = e - (d - 1) (exact, Fast2Sum) and q0 = fl(num / d), the remainder num - q0 d is
// exact in one FMA, and num / (d + d_low) = q0 + (num - q0 d - q0 d_low) / d to far below an ulp, so the
// result is rounded once more only. The correction is tiny, so an approximate 1/d suffices.
SIMD_NN_ALWAYS_INLINE __m256 SigmoidVector(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 minus_abs = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 e = ExpOfClamped(_mm256_max_ps(_mm256_set1_ps(approx::kExpMinArg), minus_abs));
  const __m256 denominator = _mm256_add_ps(one, e);
  const __m256 denominator_low = _mm256_sub_ps(e, _mm256_sub_ps(denominator, one));
  const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 numerator = _mm256_blendv_ps(one, e, negative);
  const __m256 reciprocal = _mm256_rcp_ps(denominator);
  const __m256 quotient = _mm256_div_ps(numerator, denominator);
  const __m256 remainder = _mm256_fnmadd_ps(quotient, denominator, numerator);
  const __m256 correction = _mm256_fnmadd_ps(quotient, denominator_low, remainder);
  return _mm256_fmadd_ps(correction, reciprocal, quotient);
}

// tanh(|x|) from an odd polynomial below kTanhPolyLimit and from 1 - 2e / (1 + e) with e = e^(-2|x|)
// above, then x's sign bit is copied in (so -0 stays -0). Both forms stay below 1: the polynomial because
// the limit is small, the other because 2e / (1 + e) >= 0.
SIMD_NN_ALWAYS_INLINE __m256 TanhVector(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 a = _mm256_andnot_ps(sign_bit, x);

  const __m256 u = _mm256_mul_ps(a, a);
  __m256 p = _mm256_set1_ps(approx::kTanhPoly4);
  p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(approx::kTanhPoly3));
  p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(approx::kTanhPoly2));
  p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(approx::kTanhPoly1));
  p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(approx::kTanhPoly0));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, u), p, a);

  const __m256 clamped = _mm256_min_ps(_mm256_set1_ps(approx::kTanhSaturation), a);
  const __m256 e = ExpOfClamped(_mm256_mul_ps(clamped, _mm256_set1_ps(-2.0f)));
  const __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_add_ps(e, e), _mm256_add_ps(one, e)));

  const __m256 use_small = _mm256_cmp_ps(a, _mm256_set1_ps(approx::kTanhPolyLimit), _CMP_LT_OQ);
  const __m256 magnitude = _mm256_blendv_ps(large, small, use_small);
  return _mm256_or_ps(magnitude, _mm256_and_ps(x, sign_bit));
}

// Returns max(x, 0) - x z + log1p(e^-|x|) for 4 lanes in float64: the linear part x (1 - z) or -x z is
// exact there, and the sum is rounded to float32 once by the caller.
SIMD_NN_ALWAYS_INLINE __m256d SigmoidXentHalf(__m256d z, __m256d x, __m256d e, __m256d nonnegative) {
  const __m256d factor = _mm256_sub_pd(_mm256_and_pd(nonnegative, _mm256_set1_pd(1.0)), z);
  return _mm256_fmadd_pd(x, factor, Log1pPd(e));
}

SIMD_NN_ALWAYS_INLINE __m256 SigmoidXentVector(__m256 z, __m256 x) {
  const __m256 minus_abs = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 e = ExpOfClamped(_mm256_max_ps(_mm256_set1_ps(approx::kExpMinArg), minus_abs));
  const __m256 nonnegative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
  const __m256d low = SigmoidXentHalf(LowToDouble(z), LowToDouble(x), LowToDouble(e), LowMaskToDouble(nonnegative));
  const __m256d high =
      SigmoidXentHalf(HighToDouble(z), HighToDouble(x), HighToDouble(e), HighMaskToDouble(nonnegative));
  __m256 result = JoinToFloat(low, high);

  // At x = +-inf the formula subtracts infinities. The limits are (1 - z) * inf for +inf and z * inf for
  // -inf, and 0 where the label makes the infinite term vanish (z = 1 and z = 0 respectively).
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  const __m256 positive_inf = _mm256_cmp_ps(x, inf, _CMP_EQ_OQ);
  const __m256 negative_inf = _mm256_cmp_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), inf), _CMP_EQ_OQ);
  if (_mm256_movemask_ps(_mm256_or_ps(positive_inf, negative_inf)) != 0) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 label_one = _mm256_cmp_ps(z, one, _CMP_EQ_OQ);
    const __m256 label_zero = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_EQ_OQ);
    const __m256 positive_limit = _mm256_andnot_ps(label_one, _mm256_mul_ps(_mm256_sub_ps(one, z), inf));
    const __m256 negative_limit = _mm256_andnot_ps(label_zero, _mm256_mul_ps(z, inf));
    result = _mm256_blendv_ps(result, positive_limit, positive_inf);
    result = _mm256_blendv_ps(result, negative_limit, negative_inf);
  }
  return result;
}

void Relu(const float* x, float* y, size_t n) { MapElements(x, y, n, ReluVector); }
SIMD_NN_INTERLEAVE void Sigmoid(const float* x, float* y, size_t n) { MapElements(x, y, n, SigmoidVector); }
SIMD_NN_INTERLEAVE void Tanh(const float* x, float* y, size_t n) { MapElements(x, y, n, TanhVector); }
SIMD_NN_INTERLEAVE void Exp(const float* x, float* y, size_t n) { MapElements(x, y, n, ExpVector); }

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  MapElementPairs(labels, logits, out, n, SigmoidXentVector);
}

// Squares are exact in float64 (24-bit significands). Each conversion to float64 takes its 4 floats straight
// from memory, which saves extracting the upper half, and eight accumulators cover the FMA latency.
double SumSquares(const float* x, size_t n) {
  constexpr size_t kAccumulators = 8;
  constexpr size_t kQuarter = kLanes / 2;
  __m256d sums[kAccumulators];
#pragma GCC unroll 8
  for (size_t k = 0; k < kAccumulators; ++k) {
    sums[k] = _mm256_setzero_pd();
  }
  size_t i = 0;
  for (; i + kAccumulators * kQuarter <= n; i += kAccumulators * kQuarter) {
#pragma GCC unroll 8
    for (size_t k = 0; k < kAccumulators; ++k) {
      const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + k * kQuarter));
      sums[k] = _mm256_fmadd_pd(d, d, sums[k]);
    }
  }
  for (size_t k = 0; i < n; i += kQuarter, ++k) {
    const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(n - i)), _mm_setr_epi32(0, 1, 2, 3));
    const __m256d d = _mm256_cvtps_pd(_mm_maskload_ps(x + i, mask));
    sums[k] = _mm256_fmadd_pd(d, d, sums[k]);
  }
#pragma GCC unroll 8
  for (size_t width = kAccumulators / 2; width != 0; width /= 2) {
#pragma GCC unroll 8
    for (size_t k = 0; k < width; ++k) {
      sums[k] = _mm256_add_pd(sums[k], sums[k + width]);
    }
  }
  return ReduceAdd(sums[0]);
}

}  // namespace

extern const KernelSet kKernelSet = {
    "avx2", Relu, Sigmoid, Tanh, Exp, SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace avx2
}  // namespace simd_nn
