// AVX2 kernel set: element-wise kernels, sigmoid cross-entropy, sum of squares and the kernel table.
// The row kernels (softmax, softmax cross-entropy) are in avx2_rows.cpp.
//
// Compiled with -mavx2 -mfma. Everything here is intrinsics and plain code inside namespace simd_nn::avx2
// (see kernel_set.h for why no inline or template code may be shared with other files). Tails are loaded with
// VMASKMOVPS and stored with StoreFirstLanes around the same vector function as the body, so an element's
// result does not depend on where it sits.
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

// Vectors per loop step of MapElements. Exp is compiled with GCC's first instruction scheduling pass (off by
// default on x86), which interleaves the vectors' independent dependency chains. In source order, each vector's
// long chain filled the out-of-order window alone: sigmoid, which used this loop before, ran about 20% slower
// (AMD Zen 5).
constexpr size_t kUnroll = 4;
#define SIMD_NN_INTERLEAVE __attribute__((optimize("schedule-insns")))

// Applies f, a function of one vector, to x[0, n) and writes y[0, n). y may be exactly x: each vector is read
// before it is written. Large outputs are written with non-temporal stores after an ordinary head that aligns
// y to 32 bytes. f may be a lambda that captures a parameter (leaky_relu's alpha).
template <typename VectorFunction>
SIMD_NN_ALWAYS_INLINE void MapElements(const float* x, float* y, size_t n, VectorFunction f) {
  size_t i = 0;
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  if (streaming) {
    const size_t head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
    if (head != 0) {
      StoreFirstLanes(y, f(_mm256_maskload_ps(x, FirstLanes(head))), head);
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
    StoreFirstLanes(y + i, f(_mm256_maskload_ps(x + i, FirstLanes(n - i))), n - i);
  }
  if (streaming) {
    _mm_sfence();
  }
}

SIMD_NN_ALWAYS_INLINE __m256 ReluVector(__m256 x) {
  // max(0, x) returns its second operand for NaN, so NaN stays NaN; relu(-0) is -0.
  return _mm256_max_ps(_mm256_setzero_ps(), x);
}

SIMD_NN_ALWAYS_INLINE __m256 Relu6Vector(__m256 x) {
  // MAXPS and MINPS return their second operand for NaN, so NaN stays NaN.
  return _mm256_min_ps(_mm256_set1_ps(6.0f), _mm256_max_ps(_mm256_setzero_ps(), x));
}

// softsign x / (|x| + 1), in float64 and rounded once, as in the scalar set. x is clamped to +-2^64 first, where
// the quotient is 1 in float64, so +-inf gives +-1. The clamp keeps NaN, and -0 gives -0 / 1 = -0.
//
// A float32 form, a reciprocal estimate with one remainder step (as in sigmoid) on |x| + 1 and its rounding
// error, took 0.95 ns per element at 64K elements against 0.93 for this one (AMD EPYC of family 23, whose
// 256-bit operations run as two halves). It may pay off on a core with full-width units; it was not measured
// on one.
SIMD_NN_ALWAYS_INLINE __m256 SoftsignVector(__m256 x) {
  const __m256 clamped = _mm256_min_ps(_mm256_set1_ps(0x1p64f), _mm256_max_ps(_mm256_set1_ps(-0x1p64f), x));
  const __m256d sign_bit = _mm256_set1_pd(-0.0);
  const __m256d one = _mm256_set1_pd(1.0);
  const __m256d low = LowToDouble(clamped);
  const __m256d high = HighToDouble(clamped);
  const __m256d low_quotient = _mm256_div_pd(low, _mm256_add_pd(_mm256_andnot_pd(sign_bit, low), one));
  const __m256d high_quotient = _mm256_div_pd(high, _mm256_add_pd(_mm256_andnot_pd(sign_bit, high), one));
  return JoinToFloat(low_quotient, high_quotient);
}

SIMD_NN_ALWAYS_INLINE __m256 ExpVector(__m256 x) { return ExpOfClamped(ClampExpArgument(x)); }

// Element-wise kernels of two stages work on blocks of kBlockVectors vectors and run each step over the whole
// block before the next (see MapElementsInStages). Blocks of 8 vectors ran 2% (sigmoid) and 10% (tanh) faster
// than blocks of 4 at 64K elements (tools/ab.mjs, AMD Zen 5).
constexpr size_t kBlockVectors = 8;
constexpr size_t kBlockElements = kBlockVectors * kLanes;

// Loads elements [i, n) of x into a block, zero-filling the lanes past n. StorePartialBlock writes them back.
SIMD_NN_ALWAYS_INLINE void LoadPartialBlock(const float* x, size_t i, size_t n, __m256* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const size_t first = i + k * kLanes;
    const __m256i mask = first >= n ? _mm256_setzero_si256() : ChunkMask(first, n);
    block[k] = _mm256_maskload_ps(x + (first >= n ? i : first), mask);
  }
}

SIMD_NN_ALWAYS_INLINE void StorePartialBlock(float* y, size_t i, size_t n, const __m256* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const size_t first = i + k * kLanes;
    if (first < n) {
      StoreFirstLanes(y + first, block[k], n - first);
    }
  }
}

SIMD_NN_ALWAYS_INLINE void LoadBlock(const float* x, __m256* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = _mm256_loadu_ps(x + k * kLanes);
  }
}

// Stores the whole block at y, with non-temporal stores when streaming (y then aligned to 32 bytes).
SIMD_NN_ALWAYS_INLINE void StoreBlock(float* y, const __m256* block, bool streaming) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    if (streaming) {
      _mm256_stream_ps(y + k * kLanes, block[k]);
    } else {
      _mm256_storeu_ps(y + k * kLanes, block[k]);
    }
  }
}

using PairBlockFunction = void (*)(const __m256* a, __m256* b_and_result);

// Applies f to blocks of a[0, n) and b[0, n) pairwise and writes y[0, n), as MapElementsInStages does for one
// input. Large outputs get an aligning head and non-temporal stores, and the head and the tail go through the
// same f as partial blocks. f receives a block of a and a block of b, and leaves its result in the latter. y may
// be exactly a or b.
SIMD_NN_ALWAYS_INLINE void MapElementPairs(const float* a, const float* b, float* y, size_t n, PairBlockFunction f) {
  __m256 a_block[kBlockVectors];
  __m256 block[kBlockVectors];
  // Up to one vector: the block's other vectors are zero constants, which the compiler can fold. Through
  // LoadPartialBlock, sigmoid cross-entropy over one element took 62 ns, and takes 23 so (AMD Zen 5).
  if (n <= kLanes) {
    const __m256i mask = FirstLanes(n);
#pragma GCC unroll 8
    for (size_t k = 1; k < kBlockVectors; ++k) {
      a_block[k] = _mm256_setzero_ps();
      block[k] = _mm256_setzero_ps();
    }
    a_block[0] = _mm256_maskload_ps(a, mask);
    block[0] = _mm256_maskload_ps(b, mask);
    f(a_block, block);
    StoreFirstLanes(y, block[0], n);
    return;
  }

  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  // Non-temporal stores need y aligned to 32 bytes: the elements before that go first, as a partial block.
  size_t head = 0;
  if (streaming) {
    head = ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
  }
  if (head != 0) {
    LoadPartialBlock(a, 0, head, a_block);
    LoadPartialBlock(b, 0, head, block);
    f(a_block, block);
    StorePartialBlock(y, 0, head, block);
  }

  size_t i = head;
  for (; i + kBlockElements <= n; i += kBlockElements) {
    LoadBlock(a + i, a_block);
    LoadBlock(b + i, block);
    f(a_block, block);
    StoreBlock(y + i, block, streaming);
  }
  if (i < n) {
    LoadPartialBlock(a, i, n, a_block);
    LoadPartialBlock(b, i, n, block);
    f(a_block, block);
    StorePartialBlock(y, i, n, block);
  }
  if (streaming) {
    _mm_sfence();
  }
}


// Applies a kernel of two stages, first(block) and then final(block, x), to x[0, n) and writes y[0, n), like
// MapElements. The loop is software-pipelined: each step runs the first stage of one block and the final stage
// of the block before it, so the out-of-order core has two independent chains of half the length to work on.
// The final stage reads its block of x again. y may be exactly x: a block of y is written only after its block
// of x and the next one were read. The head (streaming only) and the tail go through both stages as partial
// blocks, so every element is computed alike.
template <typename FirstStage, typename FinalStage>
SIMD_NN_ALWAYS_INLINE void MapElementsInStages(const float* x, float* y, size_t n, FirstStage first,
                                               FinalStage final) {
  const auto whole = [&](__m256* block) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    __m256 input[kBlockVectors];
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      input[k] = block[k];
    }
    first(block);
    final(block, input);
  };
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  const size_t head = !streaming ? 0 : ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
  __m256 block[kBlockVectors];
  if (head != 0) {
    LoadPartialBlock(x, 0, head, block);
    whole(block);
    StorePartialBlock(y, 0, head, block);
  }

  size_t i = head;
  if (i + 2 * kBlockElements <= n) {
    // The final stage of the block at `at`, whose first stage left `pending`.
    const auto finish_block = [&](size_t at, __m256* pending) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      __m256 input[kBlockVectors];
      LoadBlock(x + at, input);
      final(pending, input);
      StoreBlock(y + at, pending, streaming);
    };
    __m256 pending[kBlockVectors];
    LoadBlock(x + i, pending);
    first(pending);
    for (; i + 2 * kBlockElements <= n; i += kBlockElements) {
      LoadBlock(x + i + kBlockElements, block);
      first(block);
      finish_block(i, pending);
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        pending[k] = block[k];
      }
    }
    finish_block(i, pending);
    i += kBlockElements;
  } else if (i + kBlockElements <= n) {
    LoadBlock(x + i, block);
    whole(block);
    StoreBlock(y + i, block, streaming);
    i += kBlockElements;
  }
  if (i < n) {
    LoadPartialBlock(x, i, n, block);
    whole(block);
    StorePartialBlock(y, i, n, block);
  }
  if (streaming) {
    _mm_sfence();
  }
}

// Returns an estimate of 1 / d for d >= 1 within about 2^-22: RCPPS (within 1.5 * 2^-12) and one Newton step.
SIMD_NN_ALWAYS_INLINE __m256 Reciprocal(__m256 d) {
  const __m256 y0 = _mm256_rcp_ps(d);
  return _mm256_fmadd_ps(y0, _mm256_fnmadd_ps(d, y0, _mm256_set1_ps(1.0f)), y0);
}

// sigmoid(x) = num / (1 + e) with e = e^-|x| in [0, 1], num = e for x < 0 and 1 otherwise, so nothing
// overflows and the result stays in [0, 1]. The same method as the AVX-512 set, with an 8-entry table.
//
// -|x| is clamped at -kSigmoidClamp = -88, which keeps n + 1016 non-negative for PowerOfTwoOrZero. From
// |x| = 87.36 on, 2^floor(n/8) is below 2^-126 and e becomes 0, so sigmoid is exactly 0 or 1 there (the exact
// result for x <= -87.36 is below 2^-126, which the contract lets flush). The clamp keeps NaN (MAXPS returns
// its second operand), and NaN reaches the result through e, which ExpFlushingSubnormals computes.
//
// The quotient starts from q0 = num * y, y = Reciprocal(1 + e), and takes one correction step with the
// remainder num - q0 (1 + e) = (num - q0 d) - q0 d_low, where d = fl(1 + e) and d_low = e - (d - 1) is its
// rounding error (exact, Fast2Sum). Each FMA rounds the remainder only, far below its own size, and the
// corrected quotient q0 + remainder * y is off by about 2^-44 before its final rounding. The AVX-512 form
// (num - q0) - q0 e needs num - q0 exact, which fails when q0 falls below num / 2: near x = 0 an estimate
// from RCPPS is off by up to 3 ulp, and sigmoid(1e-40) came out one ulp below 0.5.
//
// About 29 operations per 8 elements, where the previous form (an exponential with two scalings, and a
// division) took about 35 and a VDIVPS: at 64K elements, 9.0x a copy instead of 12.3x (tools/ab.mjs, AMD Zen 5).
constexpr float kSigmoidClamp = 88.0f;

// Replaces each x in the block by e = e^-|x|: stage 1 of sigmoid.
SIMD_NN_ALWAYS_INLINE void SigmoidExpStage(__m256* block) {
  __m256 biased_n[kBlockVectors];
  __m256 r[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m256 minus_abs = _mm256_or_ps(block[k], _mm256_set1_ps(-0.0f));
    const __m256 a = _mm256_max_ps(_mm256_set1_ps(-kSigmoidClamp), minus_abs);
    biased_n[k] = _mm256_fmadd_ps(a, _mm256_set1_ps(8.0f * approx::kLog2e), _mm256_set1_ps(kRoundingMagicWithBias));
    const __m256 n = _mm256_sub_ps(biased_n[k], _mm256_set1_ps(kRoundingMagicWithBias));
    r[k] = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Hi / 8.0f), a);
    r[k] = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = ExpFlushingSubnormals(biased_n[k], r[k]);
  }
}

// Replaces each e in the block by sigmoid of the matching x in `x`: stage 2 of sigmoid.
SIMD_NN_ALWAYS_INLINE void SigmoidQuotientStage(__m256* e, const __m256* x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 d[kBlockVectors];
  __m256 y[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    d[k] = _mm256_add_ps(one, e[k]);
    y[k] = Reciprocal(d[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m256 d_low = _mm256_sub_ps(e[k], _mm256_sub_ps(d[k], one));
    const __m256 negative = _mm256_cmp_ps(x[k], _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 numerator = _mm256_blendv_ps(one, e[k], negative);
    const __m256 q0 = _mm256_mul_ps(numerator, y[k]);
    const __m256 remainder = _mm256_fnmadd_ps(q0, d_low, _mm256_fnmadd_ps(q0, d[k], numerator));
    e[k] = _mm256_fmadd_ps(remainder, y[k], q0);
  }
}

// tanh|x| = E / (E + 2) with E = e^(2|x|) - 1, one formula for all lanes, as in the AVX-512 set with an 8-entry
// table. x's sign bit is copied in at the end, so -0 stays -0; NaN passes through as NaN. |x| is clamped to
// kTanhSaturation, where the result has rounded to 1, so E stays below e^18.2.
//
// E = P (1 + s) - 1 = P s + (P - 1) with n = floor(16 |x| / ln2), P = 2^(n/8) as the table high part scaled
// by 2^floor(n/8), and s = e^r - 1 + c_j, where r = 2|x| - n ln2/8 lies in [0, ln2/8] and c_j is the relative
// low table part. Rounding n down keeps r, s and P - 1 non-negative (P - 1 is exact), so nothing cancels and E
// stays within about 1 ulp down to x = 0, where E = s = 2x. AVX2 has no FMA with a rounding mode, so n is the
// floor of the rounded product 16 |x| / ln2. Where that product rounds up to an integer, r is negative by at
// most 2^-16 ln2/8, inside the 0.2% by which the polynomial's range is widened. The low part of ln2 is left
// out: its error in r, below 2^-28.4 times 2|x|, reaches tanh scaled by 2 / (E + 2).
//
// The quotient starts from q0 = E y, y = Reciprocal(E + 2), and takes one remainder step,
// E - q0 (E + 2) = (E - 2 q0) - q0 E, so the rounding of E + 2 never reaches the result. Up to E = 2
// (|x| = 0.549) E - 2 q0 is exact (Sterbenz). Above, it rounds by at most 2^-24 E tanh, which reaches the
// result as at most 2^-24 tanh^2.
//
// The previous form computed an odd polynomial and 1 - 2e / (1 + e), with a division, for every lane and
// chose between them. At 64K elements this one takes 8.4x a copy instead of 15.6x (tools/ab.mjs, AMD Zen 5).
//
// Replaces each x in the block by E = e^(2|x|) - 1: stage 1 of tanh.
SIMD_NN_ALWAYS_INLINE void TanhExpm1Stage(__m256* block) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 two = _mm256_set1_ps(2.0f);
  __m256 h[kBlockVectors];
  __m256 biased_n[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    // MINPS returns its second operand for NaN.
    const __m256 a = _mm256_min_ps(_mm256_set1_ps(approx::kTanhSaturation),
                                   _mm256_andnot_ps(_mm256_set1_ps(-0.0f), block[k]));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(16.0f * approx::kLog2e)),
                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    biased_n[k] = _mm256_add_ps(n, _mm256_set1_ps(kRoundingMagicWithBias));
    // h = r / 2, exact.
    h[k] = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Hi / 16.0f), a);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    // s = h (2 + h 4 q(2h)) + c_j = r + r^2 q(r) + c_j, by Horner's rule.
    __m256 t =
        _mm256_fmadd_ps(_mm256_set1_ps(approx::kTanh8Expm1Poly3), h[k], _mm256_set1_ps(approx::kTanh8Expm1Poly2));
    t = _mm256_fmadd_ps(t, h[k], _mm256_set1_ps(approx::kTanh8Expm1Poly1));
    t = _mm256_fmadd_ps(t, h[k], _mm256_set1_ps(approx::kTanh8Expm1Poly0));
    t = _mm256_fmadd_ps(t, h[k], two);
    const __m256i index = _mm256_castps_si256(biased_n[k]);
    const __m256 relative_low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(approx::kExp2Table8RelativeLow), index);
    const __m256 s = _mm256_fmadd_ps(t, h[k], relative_low);
    const __m256i table_bits = _mm256_permutevar8x32_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(approx::kExp2Table8HighBitsLessIndex)), index);
    const __m256 p = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(index, 20), table_bits));
    block[k] = _mm256_fmadd_ps(p, s, _mm256_sub_ps(p, one));
  }
}

// Replaces each E in the block by tanh, with the sign of the matching x in `x`: stage 2 of tanh.
SIMD_NN_ALWAYS_INLINE void TanhQuotientStage(__m256* e, const __m256* x) {
  const __m256 two = _mm256_set1_ps(2.0f);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 y[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    y[k] = Reciprocal(_mm256_add_ps(e[k], two));
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m256 q0 = _mm256_mul_ps(e[k], y[k]);
    const __m256 remainder = _mm256_fnmadd_ps(q0, e[k], _mm256_fnmadd_ps(q0, two, e[k]));
    const __m256 magnitude = _mm256_fmadd_ps(remainder, y[k], q0);
    e[k] = _mm256_or_ps(magnitude, _mm256_and_ps(x[k], sign_bit));
  }
}

// Returns max(x, 0) - x z + log1p(e^-|x|) for 4 lanes in float64, given the log1p: the linear part
// x (1 - z) or -x z is exact there, and the sum is rounded to float32 once by the caller.
SIMD_NN_ALWAYS_INLINE __m256d SigmoidXentHalf(__m256d z, __m256d x, __m256d log1p_e, __m256d nonnegative) {
  const __m256d factor = _mm256_sub_pd(_mm256_and_pd(nonnegative, _mm256_set1_pd(1.0)), z);
  return _mm256_fmadd_pd(x, factor, log1p_e);
}

// Replaces each logit x of the block by its sigmoid cross-entropy with the label z at the same position, each
// step over the whole block (e^-|x|, then log1p in float64 over the block's 16 halves). Computed one vector at
// a time, the steps formed a chain too long for the out-of-order core to overlap: the block form runs about
// 1.7x as fast at 64K elements (AMD Zen 5, tools/ab.mjs). Groups of 4 or 8 halves for the log1p, which spill
// fewer registers, ran no faster.
SIMD_NN_ALWAYS_INLINE void SigmoidXentBlock(const __m256* z, __m256* x) {
  constexpr size_t kCount = kBlockVectors;
  // e^-|x|, with -|x| clamped to the exponential's range first: the reductions, then the exponentials.
  __m256 r[kCount];
  __m256 biased_n[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __m256 minus_abs = _mm256_or_ps(x[k], _mm256_set1_ps(-0.0f));
    const ExpArgument argument = ReduceExpArgument(_mm256_max_ps(_mm256_set1_ps(approx::kExpMinArg), minus_abs));
    biased_n[k] = argument.biased_n;
    r[k] = _mm256_fnmadd_ps(argument.n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), argument.r_high);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    r[k] = ExpFromReduced(biased_n[k], r[k]);
  }

  // The float64 part: log1p(e^-|x|) of the 16 halves a step at a time, then max(x, 0) - x z added to it.
  __m256d log1p_e[2 * kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    log1p_e[2 * k] = LowToDouble(r[k]);
    log1p_e[2 * k + 1] = HighToDouble(r[k]);
  }
  Log1pPdGroup<2 * kCount>(log1p_e);
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __m256 nonnegative = _mm256_cmp_ps(x[k], _mm256_setzero_ps(), _CMP_GE_OQ);
    const __m256d low =
        SigmoidXentHalf(LowToDouble(z[k]), LowToDouble(x[k]), log1p_e[2 * k], LowMaskToDouble(nonnegative));
    const __m256d high =
        SigmoidXentHalf(HighToDouble(z[k]), HighToDouble(x[k]), log1p_e[2 * k + 1], HighMaskToDouble(nonnegative));
    r[k] = JoinToFloat(low, high);
  }

  // Infinite and NaN logits, which are rare, are handled after the block's results. The test |x| >= inf finds
  // both, because an unordered comparison counts as true.
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 any_special = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    any_special = _mm256_or_ps(any_special, _mm256_cmp_ps(_mm256_and_ps(x[k], abs_mask), inf, _CMP_NLT_UQ));
  }
  if (_mm256_movemask_ps(any_special) != 0) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (size_t k = 0; k < kCount; ++k) {
      // At x = +-inf the formula subtracts infinities. The limits are (1 - z) * inf for +inf and z * inf for
      // -inf, and 0 where the label makes the infinite term vanish (z = 1 and z = 0 respectively).
      const __m256 positive_inf = _mm256_cmp_ps(x[k], inf, _CMP_EQ_OQ);
      const __m256 negative_inf = _mm256_cmp_ps(x[k], _mm256_sub_ps(_mm256_setzero_ps(), inf), _CMP_EQ_OQ);
      const __m256 label_one = _mm256_cmp_ps(z[k], one, _CMP_EQ_OQ);
      const __m256 label_zero = _mm256_cmp_ps(z[k], _mm256_setzero_ps(), _CMP_EQ_OQ);
      const __m256 positive_limit = _mm256_andnot_ps(label_one, _mm256_mul_ps(_mm256_sub_ps(one, z[k]), inf));
      const __m256 negative_limit = _mm256_andnot_ps(label_zero, _mm256_mul_ps(z[k], inf));
      r[k] = _mm256_blendv_ps(r[k], positive_limit, positive_inf);
      r[k] = _mm256_blendv_ps(r[k], negative_limit, negative_inf);

      // A NaN logit gives its own NaN, quieted, whatever the label. With a NaN label too, which of the two
      // NaNs an instruction returns depends on its operand order, which the compiler may pick differently
      // for whole and partial blocks.
      r[k] = _mm256_blendv_ps(r[k], _mm256_add_ps(x[k], x[k]), _mm256_cmp_ps(x[k], x[k], _CMP_UNORD_Q));
    }
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    x[k] = r[k];
  }
}

// softplus(x) = max(x, 0) + log1p(e^-|x|) is the sigmoid cross-entropy with label 0, and -log_sigmoid(x) =
// softplus(-x) the one with label 1. Their blocks run SigmoidXentBlock on constant labels, which the compiler
// folds into it, with its float64 log1p, its limits at +-inf and its NaN handling.
SIMD_NN_ALWAYS_INLINE void SoftplusBlock(__m256* x) {
  __m256 labels[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    labels[k] = _mm256_setzero_ps();
  }
  SigmoidXentBlock(labels, x);
}

// log_sigmoid(x) = -softplus(-x); negation by multiplying with -1 is exact and turns softplus(-inf) = 0 into
// log_sigmoid(+inf) = -0.
SIMD_NN_ALWAYS_INLINE void LogSigmoidBlock(__m256* x) {
  __m256 labels[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    labels[k] = _mm256_set1_ps(1.0f);
  }
  SigmoidXentBlock(labels, x);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    x[k] = _mm256_mul_ps(x[k], _mm256_set1_ps(-1.0f));
  }
}

// The final stage of a kernel whose first stage does all the work: MapElementsInStages then runs the blocks of
// one whole stage, with its head, tail and streaming stores. The load of x it skips is dead code.
SIMD_NN_ALWAYS_INLINE void NoFinalStage(__m256* /*block*/, const __m256* /*x*/) {}

void Relu(const float* x, float* y, size_t n) { MapElements(x, y, n, ReluVector); }
void Relu6(const float* x, float* y, size_t n) { MapElements(x, y, n, Relu6Vector); }

// x for x > 0, else alpha * x: a select, so that alpha > 1 and alpha < 0 are right. NaN compares false and
// gives alpha * NaN, a NaN. With alpha = +-0, x is first raised to at least -FLT_MAX (MAXPS keeps NaN as its
// second operand), so -inf gives the limit, a zero, where 0 * -inf is NaN.
void LeakyRelu(const float* x, float* y, size_t n, float alpha) {
  const __m256 factor = _mm256_set1_ps(alpha);
  const __m256 floor = _mm256_set1_ps(alpha == 0.0f ? -__FLT_MAX__ : -__builtin_inff());
  MapElements(x, y, n, [factor, floor](__m256 v) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m256 positive = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_mul_ps(factor, _mm256_max_ps(floor, v)), v, positive);
  });
}

// silu: x * sigmoid(t) with t = beta * x. A rounded t would carry up to |t| 2^-24 of relative error into
// e = e^-|t|, so the FMA recovers the product's rounding error t_low exactly, and it joins the exponential's
// reduced argument.
//
// Lanes with |t| < kSiluNearLimit take the sigmoid's float32 path: e from ExpFlushingSubnormals, the quotient
// q0 = num / (1 + e) with its remainder step, and x q0 + x remainder / (1 + e) with the rounding error of x q0
// recovered by an FMA, so the result is rounded once. Other lanes (large |t|, and t infinite or NaN) need e
// below 2^-126, where x e can still be a normal float. Where a block has such lanes, SiluFarLanes computes
// them in float64 and they replace those lanes only, so each lane's result depends on its input alone.
// In bench/ at 64K elements (AMD EPYC of family 23), the float64 form on every lane, one vector at a time,
// took 4.46 ns per element, and this form 2.80, against 1.66 for sigmoid.
constexpr float kSiluNearLimit = 87.0f;

// Returns silu of the lanes of v in float64, for any t. e from ExpShiftedInDouble keeps float32 precision down
// to e^-708, so x e stays right where a large x meets a tiny e. It is 0 below, and where t overflowed or is
// NaN. The only NaN the formula makes from a non-NaN x is inf * 0, at x = +-inf when e = 0 is the factor, and
// the limit there is 0 with the sign of x.
SIMD_NN_ALWAYS_INLINE __m256 SiluFarLanes(__m256 v, __m256 t, __m256 minus_abs, __m256 a_low) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256d one = _mm256_set1_pd(1.0);
  __m256d e_low;
  __m256d e_high;
  ExpShiftedInDouble(minus_abs, _mm256_xor_ps(a_low, sign_bit), a_low, _mm256_castsi256_ps(_mm256_set1_epi32(-1)),
                     &e_low, &e_high);
  const __m256 negative = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256d numerator_low = _mm256_blendv_pd(one, e_low, LowMaskToDouble(negative));
  const __m256d numerator_high = _mm256_blendv_pd(one, e_high, HighMaskToDouble(negative));
  const __m256d low = _mm256_div_pd(_mm256_mul_pd(LowToDouble(v), numerator_low), _mm256_add_pd(one, e_low));
  const __m256d high = _mm256_div_pd(_mm256_mul_pd(HighToDouble(v), numerator_high), _mm256_add_pd(one, e_high));
  const __m256 result = JoinToFloat(low, high);
  const __m256 made_nan =
      _mm256_andnot_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(result, result, _CMP_UNORD_Q));
  return _mm256_blendv_ps(result, _mm256_and_ps(v, sign_bit), made_nan);
}

void Silu(const float* x, float* y, size_t n, float beta) {
  const __m256 factor = _mm256_set1_ps(beta);
  // Each step runs over the whole block, so that the out-of-order core overlaps the vectors' long chains.
  const auto silu_block = [factor](__m256* block) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 t[kBlockVectors];
    __m256 minus_abs[kBlockVectors];
    __m256 a_low[kBlockVectors];
    __m256 e[kBlockVectors];
    __m256 result[kBlockVectors];
    __m256 far = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      t[k] = _mm256_mul_ps(factor, block[k]);
      const __m256 t_low = _mm256_fmsub_ps(factor, block[k], t[k]);
      // -|t| + a_low = -|beta x| exactly: a_low is t_low with the sign flipped where t is not negative.
      minus_abs[k] = _mm256_or_ps(t[k], sign_bit);
      a_low[k] = _mm256_xor_ps(t_low, _mm256_andnot_ps(t[k], sign_bit));
      // NGE is true for -|t| below the limit and for NaN.
      far = _mm256_or_ps(far, _mm256_cmp_ps(minus_abs[k], _mm256_set1_ps(-kSiluNearLimit), _CMP_NGE_UQ));
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      const __m256 a = _mm256_max_ps(_mm256_set1_ps(-kSiluNearLimit), minus_abs[k]);
      const __m256 biased_n =
          _mm256_fmadd_ps(a, _mm256_set1_ps(8.0f * approx::kLog2e), _mm256_set1_ps(kRoundingMagicWithBias));
      const __m256 n_value = _mm256_sub_ps(biased_n, _mm256_set1_ps(kRoundingMagicWithBias));
      __m256 r = _mm256_add_ps(_mm256_fnmadd_ps(n_value, _mm256_set1_ps(approx::kLn2Hi / 8.0f), a), a_low[k]);
      r = _mm256_fnmadd_ps(n_value, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r);
      e[k] = ExpFlushingSubnormals(biased_n, r);
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      // The sigmoid's quotient (SigmoidQuotientStage), then the product with x, rounded once.
      const __m256 d = _mm256_add_ps(one, e[k]);
      const __m256 reciprocal = Reciprocal(d);
      const __m256 d_low = _mm256_sub_ps(e[k], _mm256_sub_ps(d, one));
      const __m256 negative = _mm256_cmp_ps(t[k], _mm256_setzero_ps(), _CMP_LT_OQ);
      const __m256 numerator = _mm256_blendv_ps(one, e[k], negative);
      const __m256 q0 = _mm256_mul_ps(numerator, reciprocal);
      const __m256 remainder = _mm256_fnmadd_ps(q0, d_low, _mm256_fnmadd_ps(q0, d, numerator));
      const __m256 product = _mm256_mul_ps(block[k], q0);
      const __m256 product_low = _mm256_fmsub_ps(block[k], q0, product);
      const __m256 correction = _mm256_fmadd_ps(_mm256_mul_ps(block[k], remainder), reciprocal, product_low);
      // silu has the sign of x, and the sum loses it for x = -0 (-0 + +0 is +0).
      const __m256 magnitude = _mm256_andnot_ps(sign_bit, _mm256_add_ps(product, correction));
      result[k] = _mm256_or_ps(magnitude, _mm256_and_ps(block[k], sign_bit));
    }
    if (_mm256_movemask_ps(far) != 0) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kBlockVectors; ++k) {
        const __m256 lanes = _mm256_cmp_ps(minus_abs[k], _mm256_set1_ps(-kSiluNearLimit), _CMP_NGE_UQ);
        if (_mm256_movemask_ps(lanes) != 0) {
          result[k] = _mm256_blendv_ps(result[k], SiluFarLanes(block[k], t[k], minus_abs[k], a_low[k]), lanes);
        }
      }
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      block[k] = result[k];
    }
  };
  MapElementsInStages(x, y, n, silu_block, NoFinalStage);
}

void Softplus(const float* x, float* y, size_t n) { MapElementsInStages(x, y, n, SoftplusBlock, NoFinalStage); }
void LogSigmoid(const float* x, float* y, size_t n) {
  MapElementsInStages(x, y, n, LogSigmoidBlock, NoFinalStage);
}
void Softsign(const float* x, float* y, size_t n) { MapElements(x, y, n, SoftsignVector); }
// The two-stage kernels are left to GCC's default scheduling: with its first scheduling pass
// (SIMD_NN_INTERLEAVE), which spreads the block's independent chains, they spilled registers and ran 2.4 times
// as long.
void Sigmoid(const float* x, float* y, size_t n) {
  MapElementsInStages(x, y, n, SigmoidExpStage, SigmoidQuotientStage);
}
void Tanh(const float* x, float* y, size_t n) { MapElementsInStages(x, y, n, TanhExpm1Stage, TanhQuotientStage); }
SIMD_NN_INTERLEAVE void Exp(const float* x, float* y, size_t n) { MapElements(x, y, n, ExpVector); }

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  MapElementPairs(labels, logits, out, n, SigmoidXentBlock);
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
    "avx2", Relu, Sigmoid, Tanh, Exp, Relu6, LeakyRelu, Softplus, LogSigmoid, Softsign, Silu,
    SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace avx2
}  // namespace simd_nn
