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

// Element-wise kernels work on blocks of kBlockVectors vectors and run each step of their computation over
// the whole block before the next step (sigmoid and tanh in two stages, see MapElementsInStages). The steps
// of one vector form a long dependency chain (exp, then a division), and eight independent chains side by
// side let the out-of-order core keep its FP ports busy. One vector at a time ran about 25% slower on AMD
// Zen 5 (sigmoid, measured with tools/quickbench.mjs).
constexpr size_t kBlockVectors = 8;
constexpr size_t kBlockElements = kBlockVectors * kLanes;

// Returns the length of the head, the elements before the first 64-byte boundary of y. Short arrays instead
// run the block function once. Up to 16 elements go as a head, whose other vectors are zero constants that
// the compiler can fold, and up to a block as one partial block. A head and a tail would run it twice:
// sigmoid cross-entropy over 16 unaligned elements took 104 ns that way, and takes 23 as a head (AMD Zen 5).
SIMD_NN_ALWAYS_INLINE size_t HeadLength(const float* y, size_t n) {
  if (n <= kLanes) {
    return n;
  }
  if (n <= kBlockElements) {
    return 0;
  }
  return ElementsToAlignment(y) < n ? ElementsToAlignment(y) : n;
}

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

// Loads the whole block at x.
SIMD_NN_ALWAYS_INLINE void LoadBlock(const float* x, __m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = _mm512_loadu_ps(x + k * kLanes);
  }
}

// Stores the whole block at y, with non-temporal stores when streaming (y then aligned to 64 bytes).
SIMD_NN_ALWAYS_INLINE void StoreBlock(float* y, const __m512* block, bool streaming) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    if (streaming) {
      _mm512_stream_ps(y + k * kLanes, block[k]);
    } else {
      _mm512_storeu_ps(y + k * kLanes, block[k]);
    }
  }
}

// Applies f to the first `head` elements of x (at most 16) and writes them to y: the elements before the
// first 64-byte boundary of y, or a whole short array (see HeadLength). They go in the last lanes of a
// vector that ends at y + head (see VectorEndingAt), so that every later store of y is aligned.
template <typename BlockFn>
SIMD_NN_ALWAYS_INLINE void MapHead(const float* x, float* y, size_t head, BlockFn f) {
  __m512 block[kBlockVectors];
  const __mmask16 mask = LastLanes(head);
  for (size_t k = 1; k < kBlockVectors; ++k) {
    block[k] = _mm512_setzero_ps();
  }
  block[0] = _mm512_maskz_loadu_ps(mask, VectorEndingAt(x, head));
  f(block);
  _mm512_mask_storeu_ps(VectorEndingAt(y, head), mask, block[0]);
}

// Applies f to x[0, n) and writes y[0, n). y may be exactly x: each block is read before it is written.
// A head aligns the stores of y to 64 bytes, so that none splits a cache line, and large outputs are then
// written with non-temporal stores. Partial blocks (the head and the tail) go through the same f, so every
// element is computed alike. f may be a lambda that captures a parameter (leaky_relu's alpha).
template <typename BlockFn>
SIMD_NN_ALWAYS_INLINE void MapElements(const float* x, float* y, size_t n, BlockFn f) {
  __m512 block[kBlockVectors];
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  const size_t head = HeadLength(y, n);
  if (head != 0) {
    MapHead(x, y, head, f);
  }

  size_t i = head;
  if (streaming) {
    for (; i + kBlockElements <= n; i += kBlockElements) {
      LoadBlock(x + i, block);
      f(block);
      StoreBlock(y + i, block, true);
    }
  } else {
    for (; i + kBlockElements <= n; i += kBlockElements) {
      LoadBlock(x + i, block);
      f(block);
      StoreBlock(y + i, block, false);
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

using PairBlockFunction = void (*)(const __m512* a, __m512* b_and_result);

// Applies f to blocks of a[0, n) and b[0, n) pairwise and writes y[0, n), as MapElements does for one input
// (aligned stores, non-temporal for large outputs, and partial blocks through the same f). f receives a block
// of a and a block of b, and leaves its result in the latter. y may be exactly a or b.
SIMD_NN_ALWAYS_INLINE void MapElementPairs(const float* a, const float* b, float* y, size_t n, PairBlockFunction f) {
  __m512 a_block[kBlockVectors];
  __m512 block[kBlockVectors];
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  const size_t head = HeadLength(y, n);
  if (head != 0) {
    // The head in the last lanes of a vector that ends at y + head: the first 64-byte boundary, or the end of
    // a short array (see HeadLength and VectorEndingAt).
    const __mmask16 mask = LastLanes(head);
#pragma GCC unroll 8
    for (size_t k = 1; k < kBlockVectors; ++k) {
      a_block[k] = _mm512_setzero_ps();
      block[k] = _mm512_setzero_ps();
    }
    a_block[0] = _mm512_maskz_loadu_ps(mask, VectorEndingAt(a, head));
    block[0] = _mm512_maskz_loadu_ps(mask, VectorEndingAt(b, head));
    f(a_block, block);
    _mm512_mask_storeu_ps(VectorEndingAt(y, head), mask, block[0]);
  }

  size_t i = head;
  if (streaming) {
    for (; i + kBlockElements <= n; i += kBlockElements) {
      LoadBlock(a + i, a_block);
      LoadBlock(b + i, block);
      f(a_block, block);
      StoreBlock(y + i, block, true);
    }
  } else {
    for (; i + kBlockElements <= n; i += kBlockElements) {
      LoadBlock(a + i, a_block);
      LoadBlock(b + i, block);
      f(a_block, block);
      StoreBlock(y + i, block, false);
    }
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

using FirstStage = void (*)(__m512* block);
using FinalStage = void (*)(__m512* block, const __m512* x);

// Applies a kernel of two stages, first(block) and then final(block, x), to x[0, n) and writes y[0, n), like
// MapElements. The loop is software-pipelined. Each step runs the first stage of one block and the final stage
// of the block before it, so the out-of-order core has two independent chains of half the length to work on. The
// final stage reads its block of x again from memory. y may be exactly x: a block of y is written only after its
// block of x and the next one were read.
SIMD_NN_ALWAYS_INLINE void MapElementsInStages(const float* x, float* y, size_t n, FirstStage first,
                                               FinalStage final) {
  const auto whole = [&](__m512* block) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    __m512 input[kBlockVectors];
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      input[k] = block[k];
    }
    first(block);
    final(block, input);
  };
  const bool streaming = n * sizeof(float) >= StreamingThresholdBytes();
  const size_t head = HeadLength(y, n);
  __m512 block[kBlockVectors];
  if (head != 0) {
    MapHead(x, y, head, whole);
  }

  size_t i = head;
  if (i + 2 * kBlockElements <= n) {
    // The final stage of the block at `at`, whose first stage left `pending`.
    const auto finish_block = [&](size_t at, __m512* pending) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      __m512 input[kBlockVectors];
      LoadBlock(x + at, input);
      final(pending, input);
      StoreBlock(y + at, pending, streaming);
    };
    __m512 pending[kBlockVectors];
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
    StoreBlock(y + i, block, false);
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

SIMD_NN_ALWAYS_INLINE void ReluBlock(__m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    // max(0, x) returns its second operand for NaN, so NaN stays NaN; relu(-0) is -0.
    block[k] = _mm512_max_ps(_mm512_setzero_ps(), block[k]);
  }
}

SIMD_NN_ALWAYS_INLINE void Relu6Block(__m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    // VMAXPS and VMINPS return their second operand for NaN, so NaN stays NaN.
    block[k] = _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(_mm512_setzero_ps(), block[k]));
  }
}

// softsign x / (|x| + 1), in float64 and rounded once, as in the scalar set. x is clamped to +-2^64 first, where
// the quotient is 1 in float64, so +-inf gives +-1. The clamp keeps NaN, and -0 gives -0 / 1 = -0.
SIMD_NN_ALWAYS_INLINE void SoftsignBlock(__m512* block) {
  const __m512d one = _mm512_set1_pd(1.0);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    const __m512 clamped =
        _mm512_min_ps(_mm512_set1_ps(0x1p64f), _mm512_max_ps(_mm512_set1_ps(-0x1p64f), block[k]));
    const __m512d low = LowToDouble(clamped);
    const __m512d high = HighToDouble(clamped);
    const __m512d low_quotient = _mm512_div_pd(low, _mm512_add_pd(_mm512_abs_pd(low), one));
    const __m512d high_quotient = _mm512_div_pd(high, _mm512_add_pd(_mm512_abs_pd(high), one));
    block[k] = JoinToFloat(low_quotient, high_quotient);
  }
}

SIMD_NN_ALWAYS_INLINE void ExpBlock(__m512* block) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    block[k] = ClampExpArgument(block[k]);
  }
  ExpOfClampedBlock(block);
}

// sigmoid(x) = num / (1 + e) with e = e^-|x| in [0, 1], num = e for x < 0 and 1 otherwise, so nothing
// overflows and the result stays in [0, 1].
//
// |x| is clamped to kSigmoidClamp = 88, which keeps n + 2032 positive for PowerOfTwoOrZero. From |x| = 87.36
// on, 2^floor(n/16) is below 2^-126 and e becomes 0, so sigmoid is exactly 0 or 1 there (the exact result for
// x <= -87.36 is below 2^-126, which the contract lets flush). The clamp (VRANGEPS) does not keep NaN, so the
// numerator, chosen from the class of x by VFIXUPIMMPS, carries it: e for negative x and -inf, 1 for
// x >= 0 (-0 included, where e = 1 anyway) and +inf, NaN for NaN.
//
// The quotient starts from q0 = num * rcp14(1 + e) (relative error below 2^-14) and takes one correction
// step with the remainder num - q0 (1 + e) = (num - q0) - q0 e, which the FMA rounds once. num - q0 is exact
// (Sterbenz) while q0 lies in [num / 2, num]; near x = 0 the estimate may fall just below num / 2, and the
// difference then rounds by at most 2^-26 num, under 0.25 ulp of the result. The corrected quotient
// q0 + remainder * y0 is off by about 2^-28 before its final rounding, and the rounding of 1 + e never enters.
//
// e = T_high 2^k (1 + s) with s = r + c_j + r^2 q(r), where c_j (kExp2Table16RelativeLow) replaces the
// low table part: one permute and one add instead of a permute, an FMA and an add. The power of two scales
// T_high before the last FMA, off the end of the dependency chain.
//
// All eight vectors of a block go through each step together, without spilling registers. Two passes of four
// vectors ran about 15% slower on AMD Zen 5 (tools/quickbench.mjs: 4.1x a copy at 64K elements against
// about 3.5x then) with the same operations, about 22 per 16 elements and 11 of them on the two FMA pipes.
// The exponential and the quotient are two stages for MapElementsInStages, which overlaps one block's
// quotient with the next block's exponential: 6% faster at 64K elements (tools/ab.mjs).
constexpr float kSigmoidClamp = 88.0f;
// VFIXUPIMMPS tokens by class of x, from QNaN in the low nibble: QNaN, SNaN -> x as a QNaN; 0, 1 -> +1;
// -inf -> +0; +inf -> +1; negative -> e (the destination); positive -> +1.
constexpr int kSigmoidNumeratorTable = static_cast<int>(0xA0A8AA22u);

// Replaces each x in the block by e = e^-|x|: stage 1 of sigmoid.
SIMD_NN_ALWAYS_INLINE void SigmoidExpStage(__m512* block) {
  constexpr size_t kCount = kBlockVectors;
  __m512 biased_n[kCount];
  __m512 r[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    // -min(|x|, 88): VRANGEPS with "minimum magnitude" and the sign forced to 1.
    const __m512 a = _mm512_range_ps(block[k], _mm512_set1_ps(kSigmoidClamp), 0x0E);
    biased_n[k] = _mm512_fmadd_ps(a, _mm512_set1_ps(16.0f * approx::kLog2e), _mm512_set1_ps(kRoundingMagicWithBias));
    const __m512 n = _mm512_sub_ps(biased_n[k], _mm512_set1_ps(kRoundingMagicWithBias));
    r[k] = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Hi / 16.0f), a);
    r[k] = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(approx::kExp16Poly1), r[k], _mm512_set1_ps(approx::kExp16Poly0));
    const __m512i index = _mm512_castps_si512(biased_n[k]);
    const __m512 relative_low = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16RelativeLow));
    const __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(r[k], r[k]), q, _mm512_add_ps(r[k], relative_low));
    const __m512 table_high = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16High));
    const __m512 scaled_table = _mm512_mul_ps(table_high, PowerOfTwoOrZero(biased_n[k]));
    block[k] = _mm512_fmadd_ps(scaled_table, s, scaled_table);
  }
}

// Replaces each e in the block by sigmoid of the matching x in `x`: stage 2 of sigmoid.
SIMD_NN_ALWAYS_INLINE void SigmoidQuotientStage(__m512* e, const __m512* x) {
  constexpr size_t kCount = kBlockVectors;
  __m512 y0[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    y0[k] = _mm512_rcp14_ps(_mm512_add_ps(_mm512_set1_ps(1.0f), e[k]));
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __m512 numerator = _mm512_fixupimm_ps(e[k], x[k], _mm512_set1_epi32(kSigmoidNumeratorTable), 0);
    const __m512 q0 = _mm512_mul_ps(numerator, y0[k]);
    const __m512 remainder = _mm512_fnmadd_ps(q0, e[k], _mm512_sub_ps(numerator, q0));
    e[k] = _mm512_fmadd_ps(remainder, y0[k], q0);
  }
}

// tanh|x| = E / (E + 2) with E = e^(2|x|) - 1, one formula for all lanes. x's sign bit is copied in at the
// end, so -0 stays -0; NaN passes through as NaN. |x| is clamped to kTanhSaturation, where the result has rounded
// to 1, so E stays below e^18.2.
//
// E = P (1 + s) - 1 = P s + (P - 1) with n = floor(32 |x| / ln2) (the FMA rounds toward -inf), P =
// 2^(n/16) as the table high part scaled by 2^floor(n/16), and s = e^r - 1 + c_j, where r = 2|x| - n ln2/16
// lies in [0, ln2/16] and c_j is the relative low table part. Rounding n down keeps r, s and P - 1 non-negative
// (P - 1 is exact), so nothing cancels and E stays within about 1 ulp down to x = 0, where E = s = 2x. The
// low part of ln2 is left out: its error in r, below 2^-28.4 times 2|x|, reaches tanh scaled by 2 / (E + 2).
//
// The quotient starts from q0 = E rcp14(E + 2) and takes one remainder step, E - q0 (E + 2) =
// (E - 2 q0) - q0 E, so the rounding of E + 2 never reaches the result. Up to E = 2 (|x| = 0.549) E - 2 q0
// is exact (Sterbenz). Above, it rounds by at most 2^-24 E tanh, which reaches the result as at most
// 2^-24 tanh^2. The exhaustive sweep measures 2 ulp (an error of at most 2.44 ulp against float64), the
// largest near x = 0.0078. At such small x, E's error counts up to double in ulps of tanh where E / 2 lies
// just above a power of 2 and tanh just below it, and Horner's rule rounds twice near s.
//
// About 22 operations per 16 elements, 11 of them on the two FMA pipes of AMD Zen 5, as in sigmoid. With a
// whole block at a time, the kernel ran at about 3.9x a copy in cache, against a 3.5x goal. One vector's chain
// (about 17 dependent operations) is longer than sigmoid's, so the core could not overlap enough of it with
// the next block. Run as two stages through MapElementsInStages (E, then the quotient), it is 12% faster at
// 64K elements and 8% at 1M (tools/ab.mjs). Slower, and left out: s formed as r^2 q(r) + (r + c_j) (about
// 2.4x a copy instead of 0.8x from 8M elements on, unexplained), E - (q0 + q0) on the adders, and two passes of
// four vectors.
//
// Replaces each x in the block by E = e^(2|x|) - 1: stage 1 of tanh.
SIMD_NN_ALWAYS_INLINE void TanhExpm1Stage(__m512* block) {
  constexpr size_t kCount = kBlockVectors;
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 two = _mm512_set1_ps(2.0f);
  __m512 h[kCount];
  __m512 biased_n[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    // MINPS returns its second operand for NaN.
    const __m512 a = _mm512_min_ps(_mm512_set1_ps(approx::kTanhSaturation), _mm512_abs_ps(block[k]));
    biased_n[k] = _mm512_fmadd_round_ps(a, _mm512_set1_ps(32.0f * approx::kLog2e), _mm512_set1_ps(kRoundingMagicWithBias),
                                        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 n = _mm512_sub_ps(biased_n[k], _mm512_set1_ps(kRoundingMagicWithBias));
    // h = r / 2, exact.
    h[k] = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Hi / 32.0f), a);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    // s = h (2 + h 4 q(2h)) + c_j = r + r^2 q(r) + c_j, by Horner's rule.
    __m512 t = _mm512_fmadd_ps(_mm512_set1_ps(approx::kTanhExpm1Poly2), h[k], _mm512_set1_ps(approx::kTanhExpm1Poly1));
    t = _mm512_fmadd_ps(t, h[k], _mm512_set1_ps(approx::kTanhExpm1Poly0));
    t = _mm512_fmadd_ps(t, h[k], two);
    const __m512 relative_low =
        _mm512_permutexvar_ps(_mm512_castps_si512(biased_n[k]), _mm512_loadu_ps(approx::kExp2Table16RelativeLow));
    const __m512 s = _mm512_fmadd_ps(t, h[k], relative_low);
    const __m512i index = _mm512_castps_si512(biased_n[k]);
    const __m512i table_bits =
        _mm512_permutexvar_epi32(index, _mm512_loadu_si512(approx::kExp2Table16HighBitsLessIndex));
    const __m512 p = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(index, 19), table_bits));
    block[k] = _mm512_fmadd_ps(p, s, _mm512_sub_ps(p, one));
  }
}

// Replaces each E in the block by tanh, with the sign of the matching x in `x`: stage 2 of tanh.
SIMD_NN_ALWAYS_INLINE void TanhQuotientStage(__m512* e, const __m512* x) {
  constexpr size_t kCount = kBlockVectors;
  const __m512 two = _mm512_set1_ps(2.0f);
  __m512 y0[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    y0[k] = _mm512_rcp14_ps(_mm512_add_ps(e[k], two));
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __m512 q0 = _mm512_mul_ps(e[k], y0[k]);
    const __m512 remainder = _mm512_fnmadd_ps(q0, e[k], _mm512_fnmadd_ps(q0, two, e[k]));
    const __m512 magnitude = _mm512_fmadd_ps(remainder, y0[k], q0);
    // Bitwise select: the sign bit from x, the rest from the magnitude.
    e[k] = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(magnitude), _mm512_castps_si512(x[k]),
                                                         _mm512_set1_epi32(static_cast<int>(0x80000000u)), 0xD8));
  }
}

// Returns max(x, 0) - x z + log1p(e^-|x|) for 8 lanes in float64, given the log1p: the linear part
// x (1 - z) or -x z is exact there, and the sum is rounded to float32 once by the caller.
SIMD_NN_ALWAYS_INLINE __m512d SigmoidXentHalf(__m512d z, __m512d x, __m512d log1p_e, __mmask8 nonnegative) {
  const __m512d factor = _mm512_sub_pd(_mm512_maskz_mov_pd(nonnegative, _mm512_set1_pd(1.0)), z);
  return _mm512_fmadd_pd(x, factor, log1p_e);
}

// Replaces each logit x of the block by its sigmoid cross-entropy with the label z at the same position, each
// step over the whole block (e^-|x|, then log1p in float64 over the block's 16 halves). Computed one vector
// at a time, the steps formed a chain too long for the out-of-order core to overlap: the block form runs
// about 1.7x as fast at 64K elements (AMD Zen 5, tools/ab.mjs).
SIMD_NN_ALWAYS_INLINE void SigmoidXentBlock(const __m512* z, __m512* x) {
  constexpr size_t kCount = kBlockVectors;
  // e^-|x|, with -|x| clamped to the exponential's range first.
  __m512 r[kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    r[k] = _mm512_max_ps(_mm512_set1_ps(approx::kExpMinArg), _mm512_or_ps(x[k], _mm512_set1_ps(-0.0f)));
  }
  ExpOfClampedBlock(r);

  // The float64 part: log1p(e^-|x|) of the 16 halves a step at a time, then max(x, 0) - x z added to it.
  __m512d log1p_e[2 * kCount];
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    log1p_e[2 * k] = LowToDouble(r[k]);
    log1p_e[2 * k + 1] = HighToDouble(r[k]);
  }
  Log1pPdGroup<2 * kCount>(log1p_e);
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    const __mmask16 nonnegative = _mm512_cmp_ps_mask(x[k], _mm512_setzero_ps(), _CMP_GE_OQ);
    const __m512d low = SigmoidXentHalf(LowToDouble(z[k]), LowToDouble(x[k]), log1p_e[2 * k],
                                        static_cast<__mmask8>(nonnegative));
    const __m512d high = SigmoidXentHalf(HighToDouble(z[k]), HighToDouble(x[k]), log1p_e[2 * k + 1],
                                         static_cast<__mmask8>(nonnegative >> 8));
    r[k] = JoinToFloat(low, high);
  }

  // Infinite and NaN logits, which are rare, are handled after the block's results.
  __mmask16 any_special = 0;
#pragma GCC unroll 8
  for (size_t k = 0; k < kCount; ++k) {
    // FPCLASS categories: quiet NaN (0x01), +inf (0x08), -inf (0x10) and signaling NaN (0x80).
    any_special = static_cast<__mmask16>(any_special | _mm512_fpclass_ps_mask(x[k], 0x99));
  }
  if (any_special != 0) {
    const __m512 inf = _mm512_set1_ps(__builtin_inff());
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t k = 0; k < kCount; ++k) {
      // At x = +-inf the formula subtracts infinities. The limits are (1 - z) * inf for +inf and z * inf for
      // -inf, and 0 where the label makes the infinite term vanish (z = 1 and z = 0 respectively).
      const __mmask16 positive_inf = _mm512_cmp_ps_mask(x[k], inf, _CMP_EQ_OQ);
      const __mmask16 negative_inf = _mm512_cmp_ps_mask(x[k], _mm512_sub_ps(_mm512_setzero_ps(), inf), _CMP_EQ_OQ);
      const __mmask16 label_one = _mm512_cmp_ps_mask(z[k], one, _CMP_EQ_OQ);
      const __mmask16 label_zero = _mm512_cmp_ps_mask(z[k], _mm512_setzero_ps(), _CMP_EQ_OQ);
      const __m512 positive_limit = _mm512_maskz_mul_ps(~label_one, _mm512_sub_ps(one, z[k]), inf);
      const __m512 negative_limit = _mm512_maskz_mul_ps(~label_zero, z[k], inf);
      r[k] = _mm512_mask_blend_ps(positive_inf, r[k], positive_limit);
      r[k] = _mm512_mask_blend_ps(negative_inf, r[k], negative_limit);

      // A NaN logit gives its own NaN, quieted, whatever the label. With a NaN label too, which of the two
      // NaNs an instruction returns depends on its operand order, which the compiler may pick differently
      // for whole and partial blocks.
      r[k] = _mm512_mask_add_ps(r[k], _mm512_cmp_ps_mask(x[k], x[k], _CMP_UNORD_Q), x[k], x[k]);
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
SIMD_NN_ALWAYS_INLINE void SoftplusBlock(__m512* x) {
  __m512 labels[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    labels[k] = _mm512_setzero_ps();
  }
  SigmoidXentBlock(labels, x);
}

// log_sigmoid(x) = -softplus(-x); negation by multiplying with -1 is exact and turns softplus(-inf) = 0 into
// log_sigmoid(+inf) = -0.
SIMD_NN_ALWAYS_INLINE void LogSigmoidBlock(__m512* x) {
  __m512 labels[kBlockVectors];
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    labels[k] = _mm512_set1_ps(1.0f);
  }
  SigmoidXentBlock(labels, x);
#pragma GCC unroll 8
  for (size_t k = 0; k < kBlockVectors; ++k) {
    x[k] = _mm512_mul_ps(x[k], _mm512_set1_ps(-1.0f));
  }
}

void Relu(const float* x, float* y, size_t n) { MapElements(x, y, n, ReluBlock); }
void Relu6(const float* x, float* y, size_t n) { MapElements(x, y, n, Relu6Block); }

// x for x > 0, else alpha * x: a select, so that alpha > 1 and alpha < 0 are right. NaN compares false and
// gives alpha * NaN, a NaN. With alpha = +-0, x is first raised to at least -FLT_MAX (VMAXPS keeps NaN as its
// second operand), so -inf gives the limit, a zero, where 0 * -inf is NaN.
void LeakyRelu(const float* x, float* y, size_t n, float alpha) {
  const __m512 factor = _mm512_set1_ps(alpha);
  const __m512 floor = _mm512_set1_ps(alpha == 0.0f ? -__FLT_MAX__ : -__builtin_inff());
  MapElements(x, y, n, [factor, floor](__m512* block) SIMD_NN_LAMBDA_ALWAYS_INLINE {
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      const __mmask16 positive = _mm512_cmp_ps_mask(block[k], _mm512_setzero_ps(), _CMP_GT_OQ);
      const __m512 product = _mm512_mul_ps(factor, _mm512_max_ps(floor, block[k]));
      block[k] = _mm512_mask_blend_ps(positive, product, block[k]);
    }
  });
}

// silu: x * sigmoid(t) with t = beta * x. A rounded t would carry up to |t| 2^-24 of relative error into
// e = e^-|t|, so the FMA recovers the product's rounding error t_low exactly, and it joins the exponential's
// reduced argument.
//
// Lanes with |t| < kSiluNearLimit take the sigmoid's float32 path: e as in SigmoidExpStage, the quotient
// q0 = num / (1 + e) with its remainder step as in SigmoidQuotientStage, and x q0 + x remainder / (1 + e) with
// the rounding error of x q0 recovered by an FMA, so the result is rounded once. Other lanes (large |t|, and
// t infinite or NaN) need e below 2^-126, where x e can still be a normal float. Where a block has such lanes,
// SiluFarLanes computes them in float64 and they replace those lanes only, so each lane's result depends on
// its input alone. The AVX2 set does the same. There, in bench/ at 64K elements (AMD EPYC of family 23), the
// float64 form on every lane took 4.46 ns per element, and this form 2.80.
constexpr float kSiluNearLimit = 87.0f;

// Returns silu of the lanes of v in float64, for any t. e from ExpShiftedInDouble keeps float32 precision down
// to e^-708, so x e stays right where a large x meets a tiny e. It is 0 below, and where t overflowed or is
// NaN. The only NaN the formula makes from a non-NaN x is inf * 0, at x = +-inf when e = 0 is the factor, and
// the limit there is 0 with the sign of x.
SIMD_NN_ALWAYS_INLINE __m512 SiluFarLanes(__m512 v, __mmask16 negative, __m512 minus_abs, __m512 a_low) {
  const __m512d one = _mm512_set1_pd(1.0);
  __m512d e_low;
  __m512d e_high;
  ExpShiftedInDouble(minus_abs, _mm512_sub_ps(_mm512_setzero_ps(), a_low), a_low, static_cast<__mmask16>(0xFFFF),
                     &e_low, &e_high);
  const __m512d numerator_low = _mm512_mask_mov_pd(one, static_cast<__mmask8>(negative), e_low);
  const __m512d numerator_high = _mm512_mask_mov_pd(one, static_cast<__mmask8>(negative >> 8), e_high);
  const __m512d low = _mm512_div_pd(_mm512_mul_pd(LowToDouble(v), numerator_low), _mm512_add_pd(one, e_low));
  const __m512d high = _mm512_div_pd(_mm512_mul_pd(HighToDouble(v), numerator_high), _mm512_add_pd(one, e_high));
  const __m512 result = JoinToFloat(low, high);
  const __mmask16 made_nan =
      static_cast<__mmask16>(_mm512_cmp_ps_mask(result, result, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q));
  const __m512 signed_zero = _mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_castps_si512(_mm512_set1_ps(-0.0f))));
  return _mm512_mask_mov_ps(result, made_nan, signed_zero);
}

void Silu(const float* x, float* y, size_t n, float beta) {
  const __m512 factor = _mm512_set1_ps(beta);
  // Each step runs over the whole block, so that the out-of-order core overlaps the vectors' long chains.
  MapElements(x, y, n, [factor](__m512* block) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m512 sign_bit = _mm512_set1_ps(-0.0f);
    const __m512 one = _mm512_set1_ps(1.0f);
    __mmask16 negative[kBlockVectors];
    __mmask16 far[kBlockVectors];
    __m512 minus_abs[kBlockVectors];
    __m512 a_low[kBlockVectors];
    __m512 e[kBlockVectors];
    __m512 result[kBlockVectors];
    __mmask16 any_far = 0;
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      const __m512 t = _mm512_mul_ps(factor, block[k]);
      const __m512 t_low = _mm512_fmsub_ps(factor, block[k], t);
      // -|t| + a_low = -|beta x| exactly: a_low is t_low negated where t is not negative.
      negative[k] = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LT_OQ);
      minus_abs[k] = _mm512_or_ps(t, sign_bit);
      a_low[k] = _mm512_mask_sub_ps(t_low, static_cast<__mmask16>(~negative[k]), _mm512_setzero_ps(), t_low);
      // NGE is true for -|t| below the limit and for NaN.
      far[k] = _mm512_cmp_ps_mask(minus_abs[k], _mm512_set1_ps(-kSiluNearLimit), _CMP_NGE_UQ);
      any_far = static_cast<__mmask16>(any_far | far[k]);
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      const __m512 a = _mm512_max_ps(_mm512_set1_ps(-kSiluNearLimit), minus_abs[k]);
      const __m512 biased_n =
          _mm512_fmadd_ps(a, _mm512_set1_ps(16.0f * approx::kLog2e), _mm512_set1_ps(kRoundingMagicWithBias));
      const __m512 n_value = _mm512_sub_ps(biased_n, _mm512_set1_ps(kRoundingMagicWithBias));
      __m512 r = _mm512_add_ps(_mm512_fnmadd_ps(n_value, _mm512_set1_ps(approx::kLn2Hi / 16.0f), a), a_low[k]);
      r = _mm512_fnmadd_ps(n_value, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r);
      const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(approx::kExp16Poly1), r, _mm512_set1_ps(approx::kExp16Poly0));
      const __m512i index = _mm512_castps_si512(biased_n);
      const __m512 relative_low = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16RelativeLow));
      const __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, _mm512_add_ps(r, relative_low));
      const __m512 table_high = _mm512_permutexvar_ps(index, _mm512_loadu_ps(approx::kExp2Table16High));
      const __m512 scaled_table = _mm512_mul_ps(table_high, PowerOfTwoOrZero(biased_n));
      e[k] = _mm512_fmadd_ps(scaled_table, s, scaled_table);
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      const __m512 reciprocal = _mm512_rcp14_ps(_mm512_add_ps(one, e[k]));
      const __m512 numerator = _mm512_mask_blend_ps(negative[k], one, e[k]);
      const __m512 q0 = _mm512_mul_ps(numerator, reciprocal);
      const __m512 remainder = _mm512_fnmadd_ps(q0, e[k], _mm512_sub_ps(numerator, q0));
      const __m512 product = _mm512_mul_ps(block[k], q0);
      const __m512 product_low = _mm512_fmsub_ps(block[k], q0, product);
      const __m512 correction = _mm512_fmadd_ps(_mm512_mul_ps(block[k], remainder), reciprocal, product_low);
      // silu has the sign of x, and the sum loses it for x = -0 (-0 + +0 is +0): each bit from x where the
      // sign mask has it, else from the sum (ternary-logic table 0xCA, "a ? b : c").
      result[k] = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(sign_bit),
                                                           _mm512_castps_si512(block[k]),
                                                           _mm512_castps_si512(_mm512_add_ps(product, correction)),
                                                           0xCA));
    }
    if (any_far != 0) {
      for (size_t k = 0; k < kBlockVectors; ++k) {
        if (far[k] != 0) {
          result[k] =
              _mm512_mask_mov_ps(result[k], far[k], SiluFarLanes(block[k], negative[k], minus_abs[k], a_low[k]));
        }
      }
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kBlockVectors; ++k) {
      block[k] = result[k];
    }
  });
}

void Softplus(const float* x, float* y, size_t n) { MapElements(x, y, n, SoftplusBlock); }
void LogSigmoid(const float* x, float* y, size_t n) { MapElements(x, y, n, LogSigmoidBlock); }
void Softsign(const float* x, float* y, size_t n) { MapElements(x, y, n, SoftsignBlock); }
void Sigmoid(const float* x, float* y, size_t n) {
  MapElementsInStages(x, y, n, SigmoidExpStage, SigmoidQuotientStage);
}
void Tanh(const float* x, float* y, size_t n) {
  MapElementsInStages(x, y, n, TanhExpm1Stage, TanhQuotientStage);
}
void Exp(const float* x, float* y, size_t n) { MapElements(x, y, n, ExpBlock); }

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  MapElementPairs(labels, logits, out, n, SigmoidXentBlock);
}

// Squares are exact in float64 (24-bit significands). The conversion to float64 (VCVTPS2PD, about one per
// cycle on AMD Zen 5) is the limit. So each conversion takes its 8 floats straight from memory, which saves
// extracting the upper half, and eight accumulators cover the FMA latency.
double SumSquares(const float* x, size_t n) {
  constexpr size_t kAccumulators = 8;
  constexpr size_t kHalf = kLanes / 2;
  __m512d sums[kAccumulators];
#pragma GCC unroll 8
  for (size_t k = 0; k < kAccumulators; ++k) {
    sums[k] = _mm512_setzero_pd();
  }
  size_t i = 0;
  for (; i + kAccumulators * kHalf <= n; i += kAccumulators * kHalf) {
#pragma GCC unroll 8
    for (size_t k = 0; k < kAccumulators; ++k) {
      const __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + k * kHalf));
      sums[k] = _mm512_fmadd_pd(d, d, sums[k]);
    }
  }
  for (size_t k = 0; i < n; i += kHalf, ++k) {
    const __mmask8 mask = static_cast<__mmask8>(n - i >= kHalf ? 0xFF : (1u << (n - i)) - 1u);
    const __m512d d = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, x + i));
    sums[k] = _mm512_fmadd_pd(d, d, sums[k]);
  }
#pragma GCC unroll 8
  for (size_t width = kAccumulators / 2; width != 0; width /= 2) {
#pragma GCC unroll 8
    for (size_t k = 0; k < width; ++k) {
      sums[k] = _mm512_add_pd(sums[k], sums[k + width]);
    }
  }
  return _mm512_reduce_add_pd(sums[0]);
}

}  // namespace

extern const KernelSet kKernelSet = {
    "avx512", Relu, Sigmoid, Tanh, Exp, Relu6, LeakyRelu, Softplus, LogSigmoid, Softsign, Silu,
    SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace avx512
}  // namespace simd_nn
