// AVX-512 row kernels: softmax and fused softmax cross-entropy over dense rows x classes matrices.
//
// Rows of more than 48 classes are vectorized within the row. The fast path (most rows) finds the row maximum
// m and computes e^(x - M), with M the multiple of ln2/16 nearest m (see RowShift), and the sums (float32 over
// groups of eight vectors, then float64). A third pass writes the output from cache. The rows run as a
// pipeline, so that the core does not wait on a row's reductions. The pass over row r also finds the maximum
// of row r + 2 (and prefetches row r + 4 when the input is too large for the cache). Row r - 1's output pass
// runs during or right after it. The exact path (the original algorithm, with m itself and TwoSum) takes the
// rows the fast path cannot. Those are rows with a maximum that is NaN, infinite or beyond kMaxFastRowMax, and
// cross-entropy rows with a sum below kMinFastRestSum. Short cross-entropy rows take it too, because it costs
// less per row.
//
// Softmax rows of up to 16 classes are packed several to a vector (SoftmaxSmallRows). Softmax rows of 17 to 48
// classes and cross-entropy rows of up to 48 are vectorized across rows. A group of 16 rows is loaded and
// transposed so that lane r is row r (LoadColumns, LoadColumnChunk). The results go back through the same
// transpose.
//
// NOTE: cross-entropy over 1000 classes with the gradient misses its goals of 5x a copy in cache and 1.5x at
// 16M elements. The full `npm run bench` runs of 2026-12-05 (AMD Zen 5) measured 7.04x to 8.11x at 64K
// elements and 2.21x to 2.32x at 16M. The gradient adds a third array to the traffic (a copy moves two) and a
// pass over the row. Where the code lies moves it too. With the same instructions in SoftmaxXentRows and
// WriteGradientAndLabelSums, a build whose other functions had grown took 5% longer (tools/ab.mjs, 8 runs in
// both orders, and 2.5% in tools/row-timing.cpp), and the next build, which moved them again, 0.8%. Aligning
// functions to 64 bytes, a hot section, or padding to the fast builds' distance between the two functions
// modulo 4096 did not help. The cause is not known.
// At 64K elements, pass 3 (WriteGradientAndLabelSums) took about 5 of the 13 cycles per vector (a build that
// skipped it took about 8, tools/row-timing.cpp), bound by its loads. The label and logit rows of 1000 classes
// start at every other 32-byte offset, so most of those loads split across cache lines. Rows of 1008 classes
// that start on a line ran 10-13% faster than ones 16 bytes past it. Putting the group vectors together from
// aligned loads with permutes (which the group sums need, so that equal rows give equal bits) was slower.
// Adding operations to pass 2 of gradient rows made 64K elements slower even where they saved others (see
// AddGroupToNextRowMaxWithGroups). At 16M elements the traffic alone is not the limit:
// reading two arrays and writing a third with non-temporal stores took 1.1-1.2x a memcpy (tools/memory-floor.cpp).
// But on this machine the time of memory traffic and of computation adds up rather than overlaps. The
// streaming gradient rows took about 0.23 ns per element on 16K elements in cache (a build that forced the
// streaming path there), against 0.37 at 16M (tools/row-timing.cpp). The 1.5x goal is the ratio of the
// traffic itself (three arrays against two), so it leaves no time for computation that does not overlap it.
// Alternatives measured with tools/row-timing.cpp over 1000 classes and not kept:
// - Writing row r - 1's gradient during pass 2 of row r in cache (e^(x - M) from scratch, aligned ordinary
//   stores, labels summed in pass 2): 16.3 cycles per vector against 13.1 at 64K elements.
// - At 16M, gradient stores sent to one L1 buffer instead of memory: no faster (0.37-0.39 ns per element). So
//   the stores cost nothing, and the reads with the computation set the time.
// - At 16M, prefetching 8 or 16 rows ahead, with the T1 hint, or on 2 MiB pages: no change. Two rows ahead, or
//   every other line: 0.6 ns per element. Pass 3 apart, as in cache, with ordinary or non-temporal stores:
//   0.53-0.57.
// At 16M elements, the loss alone also depends on where the labels lie relative to the logits. With both in
// one buffer, labels about a multiple of 64 MiB after the logits ran at up to 1.8x a copy before the
// prefetches went by array (see XentPrefetch). Now they run at up to 1.4x. The cause is not found.
#include "avx512_math.h"
#include "exact_sums.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx512 {
namespace {

constexpr size_t kMaxLanesModeClasses = 16;

// Rows of up to this many classes can keep e^(x - max) between passes in a stack buffer of two such rows
// (32 KiB, which stays in L1). Softmax rows do so when their output is written with non-temporal stores, and
// cross-entropy rows whenever they write a gradient. Longer rows keep it in the output.
constexpr size_t kScratchFloats = 4096;

// Rows shorter than this are written with ordinary stores at every size. At 16M elements (AMD Zen 5,
// tools/ab.mjs), streamed rows took 1.1 to 1.6 times as long at 128 to 512 classes, about 1.0 at 768, and 0.7
// to 0.8 at 1000 and more.
constexpr size_t kMinStreamingClasses = 768;

// Statistics of one cross-entropy row, enough for its loss: loss = label_sum * log1p(log1p_argument) -
// weighted_shift, where weighted_shift = sum over labels z != 0 of z * (x - max).
struct XentRowStats {
  double log1p_argument;  // S - 1 = (entries at the maximum - 1) + sum of e^(x - max) below it; NaN if invalid
  double label_sum;
  double weighted_shift;
  double label_at_max = 0.0;  // the labels of the entries at the maximum; set only where label_sum is infinite
};

// Returns the sum of the labels of the entries equal to the row maximum (see LossFromStats).
double LabelsAtMax(const float* z, const float* x, size_t classes, float max) {
  double sum = 0.0;
  for (size_t j = 0; j < classes; ++j) {
    if (x[j] == max) {
      sum += z[j];
    }
  }
  return sum;
}

void FillNaN(float* y, size_t n) {
  const __m512 nan = _mm512_set1_ps(__builtin_nanf(""));
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    _mm512_storeu_ps(y + i, nan);
  }
  if (i < n) {
    _mm512_mask_storeu_ps(y + i, FirstLanes(n - i), nan);
  }
}

// Returns counts plus 1 in the lanes of mask. Entries at the row maximum are counted this way, with no popcount
// of a mask: GCC 12.2 (at -O1, -Os, or -O2 with -mtune=znver3) spilled such a mask with a 2-byte store and
// counted it with a 4-byte popcnt from the same stack slot, so stale bytes got into the count.
SIMD_NN_ALWAYS_INLINE __m512i CountLanes(__mmask16 mask, __m512i counts) {
  return _mm512_mask_add_epi32(counts, mask, counts, _mm512_set1_epi32(1));
}

// Finds the row maximum and, when z is not null, the sum of the row's labels in float64. Returns false when
// the row has no softmax: a NaN entry, a +inf entry, or all -inf.
//
// Cross-entropy reads its labels here rather than in the next pass: this pass does little arithmetic per
// element, so it streams both rows from memory at full bandwidth, and the next pass finds them in cache. With
// the labels first read in the next pass, its exp work left too few loads in flight and large inputs ran at
// a third of the memory bandwidth.
bool FindRowMax(const float* z, const float* x, size_t classes, float* max, double* label_sum) {
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 max0 = minus_inf;
  __m512 max1 = minus_inf;
  __m512d labels0 = _mm512_setzero_pd();
  __m512d labels1 = _mm512_setzero_pd();
  __mmask16 nan = 0;

  size_t i = 0;
  for (; i + 2 * kLanes <= classes; i += 2 * kLanes) {
    const __m512 v0 = _mm512_loadu_ps(x + i);
    const __m512 v1 = _mm512_loadu_ps(x + i + kLanes);
    nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
    max0 = _mm512_max_ps(max0, v0);
    max1 = _mm512_max_ps(max1, v1);
    if (z != nullptr) {
      const __m512 w0 = _mm512_loadu_ps(z + i);
      const __m512 w1 = _mm512_loadu_ps(z + i + kLanes);
      labels0 = _mm512_add_pd(labels0, _mm512_add_pd(LowToDouble(w0), HighToDouble(w0)));
      labels1 = _mm512_add_pd(labels1, _mm512_add_pd(LowToDouble(w1), HighToDouble(w1)));
    }
  }

  for (; i < classes; i += kLanes) {
    const __mmask16 mask = ChunkMask(i, classes);
    const __m512 v = _mm512_mask_loadu_ps(minus_inf, mask, x + i);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    max0 = _mm512_max_ps(max0, v);
    if (z != nullptr) {
      const __m512 w = _mm512_maskz_loadu_ps(mask, z + i);
      labels0 = _mm512_add_pd(labels0, _mm512_add_pd(LowToDouble(w), HighToDouble(w)));
    }
  }

  const float m = _mm512_reduce_max_ps(_mm512_max_ps(max0, max1));
  *max = m;
  if (z != nullptr) {
    *label_sum = _mm512_reduce_add_pd(_mm512_add_pd(labels0, labels1));
  }
  return nan == 0 && m < __builtin_inff() && m > -__builtin_inff();
}

// ---------------------------------------------------------------------------------------------------------
// Fast path for rows of more than 16 classes

// Rows whose maximum exceeds this magnitude take the exact path: the fast exponential rounds x * 16/ln2 to an
// integer with kRoundingMagic, which works below 2^22.
constexpr float kMaxFastRowMax = 65536.0f;

// Vectors that the long-row passes compute together, one step at a time over the group. Their e^(x - M) are
// added in float32 (a tree of three additions, relative error below 3 * 2^-24) before the sum is widened to
// float64. The conversions (about one per cycle on AMD Zen 5) then cost an eighth as much.
constexpr size_t kSumGroup = 8;

// Distance in rows from the row being computed to the row being prefetched, for inputs read from memory. The
// first pass of a row reads it from memory, and the prefetches issued while the previous rows compute let it
// find the row in cache. Inputs smaller than StreamingThresholdBytes() are taken to be in cache and get no
// software prefetches. There, the prefetched rows pushed lines still in use out of L1, so cross-entropy with
// the gradient over 1000 classes ran 3-7% slower at 64K and 1M elements (AMD Zen 5, tools/ab.mjs).
constexpr size_t kPrefetchRows = 4;

// Returns whether a row kernel over `elements` floats per array prefetches rows (see kPrefetchRows).
SIMD_NN_ALWAYS_INLINE bool PrefetchesRows(size_t elements) {
  return elements * sizeof(float) >= StreamingThresholdBytes();
}

// Shorter cross-entropy rows take the exact path. The fast path has a higher fixed cost per row (the
// reductions, the row shift, S' and the gradient's bookkeeping). It was slower below about 100 classes for the
// loss alone (AMD Zen 5, interleaved timing of both paths). With the gradient, tools/ab.mjs gave the fast
// path's time over the exact path's, at 64K elements: 1.07-1.21 at 112 classes, 0.86-0.97 at 176 and
// 0.54-0.66 at 256; at 16M, 1.17-1.25 at 128 and 160 classes. The 320 of an earlier build was too high.
constexpr size_t kMinFastXentClasses = 96;
constexpr size_t kMinFastXentClassesWithGradient = 176;

// Cross-entropy rows whose sum below the maximum, S', comes out below this take the exact path. The fast
// exponential flushes results below 2^-158 to 0 (see kRowExpScaleLog2), which shifts S' by less than 2^-158
// per class, harmless unless S' itself is about that small. The threshold also keeps from the fast path the
// rows where one class dominates by more than about 41 nats. Their loss can be as small as the products
// z (x - max), which the group sums round one by one in float32 (the AVX2 set's kMinFloatLabelsRestSum).
constexpr double kMinFastRestSum = 0x1p-60;

// The shift of a row for the fast exponential.
//
// Softmax and cross-entropy are invariant under a common shift of the logits, and the fast path shifts by
// M = N ln2/16, the multiple of ln2/16 nearest the row maximum m, instead of by m: e^(x - M) =
// 2^((n - N)/16) e^(x - n ln2/16) with n = round(16 x / ln2) is then the exponential of x itself, reduced
// exactly (Cody-Waite) with the table index and power of two taken from n - N. Shifting by m instead needs
// the rounding error of the float32 difference x - m, |x - m| 2^-24 relative in e^(x - m), recovered with
// TwoSum (about 6 more operations per vector). All sums are scaled by e^(m - M) = e^R with |R| <= ln2/32,
// which the quotients cancel and S' undoes exactly enough.
//
// The exponentials come out multiplied by 2^kRowExpScaleLog2, which the quotients cancel too. Without it, the
// values of e^(x - M) below 2^-126 would be 0 or a rough subnormal. A gradient entry e^s / S - z with such an
// e^s / S and a label z of 1e-35 is about -z, a normal float, and it missed its 4 ulp bound of |z| by up to
// 3000 times. Scaled by 2^32, the exponentials stay within about 1 ulp down to e^(x - M) = 2^-158, and what is
// lost below that is under 2^-9 ulp of the smallest normal label. Ordinary rows keep their bits: scaling by a
// power of two is exact for normal floats, and the reciprocal of the sum takes the 2^-32 back.
constexpr int kRowExpScaleLog2 = 32;
constexpr double kRowExpUnscale = 1.0 / static_cast<double>(uint64_t{1} << kRowExpScaleLog2);

struct RowShift {
  float max;         // the row maximum m
  bool fast;         // whether the fast path can take the row: m finite and within kMaxFastRowMax
  __m512 magic;      // rounding 16 x / ln2 with it leaves n - N + kBias in the bits (kBias = 2032 + 16 * 32)
  __m512 lower;      // M - kBias ln2/16 (about M - 110.2): x clamped to it gets n - N = -kBias, and e^(x - M) = 0
  double reduced;    // R = m - M, in [-ln2/32, ln2/32]
  size_t max_first;  // offsets of the first and last groups of kSumGroup vectors that may contain m (all of
  size_t max_last;   // the row unless the row's maximum was found with FinishNextRowMaxWithGroups)
};

SIMD_NN_ALWAYS_INLINE RowShift MakeRowShift(float max) {
  constexpr double kLn2Over16 = approx::kLn2 / 16.0;
  constexpr double kBias = 2032.0 + 16.0 * kRowExpScaleLog2;
  RowShift shift;
  shift.max = max;
  // NaN fails the comparison too.
  shift.fast = __builtin_fabsf(max) <= kMaxFastRowMax;
  // The same product as in the vector code (16 log2(e) rounded to float32, times max), exact in float64, so
  // that n <= N for every x <= max.
  const double n_of_max =
      shift.fast ? __builtin_rint(static_cast<double>(max) * static_cast<double>(16.0f * approx::kLog2e)) : 0.0;
  // In float32, as before the 2^32 came in: the same sum in float64 made SoftmaxXentRows one instruction longer,
  // which moved its loops by a byte, and cross-entropy with the gradient ran 3-5% slower (tools/row-timing.cpp).
  shift.magic = _mm512_set1_ps(kRoundingMagicWithBias + 16.0f * kRowExpScaleLog2 - static_cast<float>(n_of_max));
  // Rounded to float32, lower is within 2^-8 of (N - kBias) ln2/16 (|M| <= kMaxFastRowMax), and 16 x / ln2 rounds
  // to N - kBias there. ExpScaledHighTable then gives exactly 0, as softmax must for -inf entries.
  shift.lower = _mm512_set1_ps(static_cast<float>((n_of_max - kBias) * kLn2Over16));
  shift.reduced = shift.fast ? static_cast<double>(max) - n_of_max * kLn2Over16 : 0.0;
  shift.max_first = 0;
  shift.max_last = SIZE_MAX;
  return shift;
}

// Returns 2^-32 e^(-R) (kRowExpUnscale e^(-R)) for |R| <= ln2/32 in float64, the factor that takes a sum of the fast exponentials
// (2^32 e^(x - M)) to a sum of e^(x - max). The Taylor series to R^8 leaves a relative error below 2^-60, and
// its coefficients carry the 2^-32 (exactly), so that the row costs no multiplication more.
SIMD_NN_ALWAYS_INLINE double RowSumUnscale(double reduced) {
  constexpr double u = kRowExpUnscale;
  double sum = u / 40320.0;
  const double coefficients[8] = {-u / 5040.0, u / 720.0, -u / 120.0, u / 24.0, -u / 6.0, u / 2.0, -u, u};
  for (double c : coefficients) {
    sum = sum * reduced + c;
  }
  return sum;
}

// Returns 2^k T_high (1 + s) from biased_n and r, where the bits of biased_n hold b = 16 (k + 127) + j (as
// ReduceShifted leaves them, b = n - N + kBias) and s = e^r - 1 = r + r^2 q(r). It leaves out the low table part that ExpMantissa
// adds, so the result is off by up to 1 ulp (the rounding of T_high, then of the sum) instead of 0.5. The 8 ulp
// bound of the row functions affords that, and it saves a permute and an addition per vector, about 10% of a
// softmax over 1000 classes on AMD Zen 5.
//
// 2^k T_high is put together in the integers (kExp2Table16HighBitsLessIndex) rather than multiplied by the
// power of two: one multiplication less, 3-4% of softmax and cross-entropy over 1000 classes at 64K elements
// (tools/ab.mjs). For k = -127 (b in [0, 16)) the sum lands in the subnormal encodings: exactly 0 for j = 0
// and below 2^-126 otherwise.
SIMD_NN_ALWAYS_INLINE __m512 ExpScaledHighTable(__m512 biased_n, __m512 r) {
  const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(approx::kExp16Poly1), r, _mm512_set1_ps(approx::kExp16Poly0));
  const __m512 s = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r);
  const __m512i index = _mm512_castps_si512(biased_n);
  const __m512i table_bits =
      _mm512_permutexvar_epi32(index, _mm512_loadu_si512(approx::kExp2Table16HighBitsLessIndex));
  const __m512 scaled_table = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(index, 19), table_bits));
  return _mm512_fmadd_ps(scaled_table, s, scaled_table);
}

// Reduces x - M for the fast exponential: returns r and sets biased_n, with x clamped to shift.lower first.
// MAXPS returns its second operand when either is NaN, so NaN stays NaN.
SIMD_NN_ALWAYS_INLINE __m512 ReduceShifted(__m512 x, const RowShift& shift, __m512* biased_n) {
  const __m512 clamped = _mm512_max_ps(shift.lower, x);
  *biased_n = _mm512_fmadd_ps(clamped, _mm512_set1_ps(16.0f * approx::kLog2e), shift.magic);
  const __m512 n = _mm512_sub_ps(*biased_n, shift.magic);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Hi / 16.0f), clamped);
  return _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r);
}

// Returns 2^32 e^(x - M) (see kRowExpScaleLog2) within about 1 ulp for x >= M - 109.4, a value below 2^-126
// for smaller x, and exactly 0 for x <= shift.lower (-inf included); NaN stays NaN.
SIMD_NN_ALWAYS_INLINE __m512 ExpShiftedFast(__m512 x, const RowShift& shift) {
  __m512 biased_n;
  const __m512 r = ReduceShifted(x, shift, &biased_n);
  return ExpScaledHighTable(biased_n, r);
}

// ExpShiftedFast with the low table part (within about 0.55 ulp), for the short rows, whose sums of up to
// 16 terms in float32 use more of the error bound.
SIMD_NN_ALWAYS_INLINE __m512 ExpShiftedFastPrecise(__m512 x, const RowShift& shift) {
  __m512 biased_n;
  const __m512 r = ReduceShifted(x, shift, &biased_n);
  return _mm512_mul_ps(ExpMantissa(_mm512_castps_si512(biased_n), r), PowerOfTwoOrZero(biased_n));
}

// Computes ExpShiftedFast for a group of vectors, one step at a time over the group: the steps of one vector
// form a long dependency chain, and issuing the group's independent steps together keeps the FP pipes busy.
// The group a row ends in computes all its vectors too, those past the row from -inf (whose exponential is
// 0). Skipping them took a branch per vector and step: cross-entropy over 1040 classes (one vector past the
// last whole group) ran 20% slower, and cross-entropy and softmax over 1000 classes 4-7% (AMD Zen 5,
// tools/ab.mjs).
SIMD_NN_ALWAYS_INLINE void ExpShiftedFastGroup(__m512* v, const RowShift& shift) {
  __m512 biased_n[kSumGroup];
  __m512 r[kSumGroup];
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    v[k] = _mm512_max_ps(shift.lower, v[k]);
    biased_n[k] = _mm512_fmadd_ps(v[k], _mm512_set1_ps(16.0f * approx::kLog2e), shift.magic);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    const __m512 n = _mm512_sub_ps(biased_n[k], shift.magic);
    r[k] = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Hi / 16.0f), v[k]);
    r[k] = _mm512_fnmadd_ps(n, _mm512_set1_ps(approx::kLn2Lo / 16.0f), r[k]);
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    v[k] = ExpScaledHighTable(biased_n[k], r[k]);
  }
}

// Group passes take one of these as a compile-time flag: the whole groups of a row need no lane masks, so
// their loads and stores compile without them, and only the group the row ends in uses masks. They are local
// tag types rather than std::bool_constant, so that no standard-library code is compiled with AVX-512 flags.
struct WholeGroup {
  static constexpr bool value = true;
};
struct PartialGroup {
  static constexpr bool value = false;
};

// Loads the group vector at p: all of it, or in a partial group the lanes of `mask`, with `fill` elsewhere.
template <bool kWhole>
SIMD_NN_ALWAYS_INLINE __m512 LoadGroupVector(const float* p, __mmask16 mask, __m512 fill) {
  if constexpr (kWhole) {
    return _mm512_loadu_ps(p);
  } else {
    return _mm512_mask_loadu_ps(fill, mask, p);
  }
}

template <bool kWhole>
SIMD_NN_ALWAYS_INLINE void StoreGroupVector(float* p, __mmask16 mask, __m512 v) {
  if constexpr (kWhole) {
    _mm512_storeu_ps(p, v);
  } else {
    _mm512_mask_storeu_ps(p, mask, v);
  }
}

// Returns p with the compiler unable to tell that it is p. Loads through it are done again instead of
// being merged with earlier loads through p, whose values the compiler would otherwise keep in registers
// (and spill to the stack) across the exponentials.
SIMD_NN_ALWAYS_INLINE const float* OpaqueCopy(const float* p) {
  __asm__("" : "+r"(p));
  return p;
}

// Fills the lane masks of the group of vectors starting at offset i of a row of n elements, and returns how
// many are not empty. Whole vectors get all lanes, the one the row ends in its first lanes, later ones none.
SIMD_NN_ALWAYS_INLINE size_t GroupMasks(size_t i, size_t n, __mmask16* masks) {
  size_t count = 0;
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    const size_t first = i + k * kLanes;
    masks[k] = first < n ? ChunkMask(first, n) : static_cast<__mmask16>(0);
    count += first < n ? 1 : 0;
  }
  return count;
}

// Returns the float32 sum of a group of kSumGroup vectors, added as a balanced tree.
SIMD_NN_ALWAYS_INLINE __m512 SumOfGroup(const __m512* v) {
  __m512 partial[kSumGroup];
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    partial[k] = v[k];
  }
#pragma GCC unroll 8
  for (size_t width = kSumGroup / 2; width != 0; width /= 2) {
#pragma GCC unroll 8
    for (size_t k = 0; k < width; ++k) {
      partial[k] = _mm512_add_ps(partial[k], partial[k + width]);
    }
  }
  return partial[0];
}

// Adds the float32 sum of a group of vectors to two float64 accumulators.
SIMD_NN_ALWAYS_INLINE void AccumulateGroup(__m512 group_sum, __m512d* low, __m512d* high) {
  *low = _mm512_add_pd(*low, LowToDouble(group_sum));
  *high = _mm512_add_pd(*high, HighToDouble(group_sum));
}

// Returns sum plus the float32 sum of a group of vectors, its halves added in float64 first (exactly, unless
// their exponents lie more than 29 apart).
SIMD_NN_ALWAYS_INLINE __m512d AddGroupToDouble(__m512 group_sum, __m512d sum) {
  return _mm512_add_pd(sum, _mm512_add_pd(LowToDouble(group_sum), HighToDouble(group_sum)));
}

// Returns the maximum of a row for the fast path. A NaN entry may or may not show in it; the fast path finds
// NaN in the sum instead.
float RowMax(const float* x, size_t classes) {
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 max0 = minus_inf;
  __m512 max1 = minus_inf;
  size_t i = 0;
  for (; i + 2 * kLanes <= classes; i += 2 * kLanes) {
    max0 = _mm512_max_ps(max0, _mm512_loadu_ps(x + i));
    max1 = _mm512_max_ps(max1, _mm512_loadu_ps(x + i + kLanes));
  }
  if (i < classes) {
    max0 = _mm512_max_ps(max0, _mm512_mask_loadu_ps(minus_inf, ChunkMask(i, classes), x + i));
  }
  if (i + kLanes < classes) {
    max1 = _mm512_max_ps(max1, _mm512_mask_loadu_ps(minus_inf, ChunkMask(i + kLanes, classes), x + i + kLanes));
  }
  return _mm512_reduce_max_ps(_mm512_max_ps(max0, max1));
}

// Prefetches the line of element i of a row ahead. The last group of a row may reach past the row and past
// the array: a prefetch never faults, and the address is formed as an integer.
SIMD_NN_ALWAYS_INLINE void PrefetchRow(const float* row, size_t i) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(row) + i * sizeof(float)), _MM_HINT_T0);
}

// Prefetches the line of element i of a row about to be written (PREFETCHW), as PrefetchRow does for reading.
SIMD_NN_ALWAYS_INLINE void PrefetchRowForWriting(const float* row, size_t i) {
  __builtin_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(row) + i * sizeof(float)), 1, 3);
}

// Distance in groups of rows from the group being computed to the group being prefetched, in the short-row
// paths (up to 16 classes), for inputs read from memory (see PrefetchesRows). Without it, cross-entropy over
// 10 classes took 2.6x as long at 16M elements (AMD Zen 5, tools/ab.mjs). One and three groups ran as fast.
constexpr size_t kPrefetchGroups = 2;

// Prefetches the lines of `count` floats at p for reading, or with `for_writing` for writing (PREFETCHW).
SIMD_NN_ALWAYS_INLINE void PrefetchSpan(const float* p, size_t count, bool for_writing) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = first + count * sizeof(float);
  for (uintptr_t line = first & ~uintptr_t{63}; line < end; line += 64) {
    if (for_writing) {
      __builtin_prefetch(reinterpret_cast<const char*>(line), 1, 3);
    } else {
      _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Softmax

// Pass 3 of softmax, y = e / S, done in pieces so that the fast path can spread it over the next row's pass 2.
// e = e^(x - M) comes from exp_store (y itself, where pass 2 stored it) or, when that is null, is computed
// again from the logits, exactly as pass 2 computed it. 1 / S is applied as a float32 pair, high + low, so
// that y is rounded once: e * high + e * low in one FMA. A masked head aligns the stores of y to 64 bytes, so
// that no store splits a cache line: ordinary stores then ran about 8% faster at 64K elements and 1000
// classes (AMD Zen 5, tools/ab.mjs). With streaming, the aligned stores are non-temporal.
class RowScaler {
 public:
  // Starts a row: writes its head, and leaves its whole vectors and its tail to Advance and Finish.
  void Start(const float* exp_store, const float* logits, const RowShift& shift, float* y, size_t classes,
             double inverse_sum, bool streaming) {
    exp_store_ = exp_store;
    logits_ = logits;
    magic_ = shift.magic;
    lower_ = shift.lower;
    y_ = y;
    classes_ = classes;
    streaming_ = streaming;
    const float high = static_cast<float>(inverse_sum);
    high_ = _mm512_set1_ps(high);
    low_ = _mm512_set1_ps(static_cast<float>(inverse_sum - static_cast<double>(high)));
    const size_t alignment = ElementsToAlignment(y);
    next_ = alignment < classes ? alignment : classes;
    body_end_ = next_ + (classes - next_) / kLanes * kLanes;
    if (next_ != 0) {
      // The head in the last lanes of a vector that ends at the first 64-byte boundary (see VectorEndingAt).
      const __mmask16 mask = LastLanes(next_);
      const __m512 e = exp_store != nullptr ? _mm512_maskz_loadu_ps(mask, VectorEndingAt(exp_store, next_))
                                            : Exponentials(_mm512_maskz_loadu_ps(mask, VectorEndingAt(logits, next_)));
      _mm512_mask_storeu_ps(VectorEndingAt(y, next_), mask, Scale(e));
    }
  }

  bool active() const { return y_ != nullptr; }

  // Writes up to `count` more whole vectors.
  SIMD_NN_ALWAYS_INLINE void Advance(size_t count) {
    if (y_ == nullptr) {
      return;
    }
    // Locals, not members: the vector stores may alias the members, which would then be reloaded each time.
    const size_t end = body_end_ - next_ > count * kLanes ? next_ + count * kLanes : body_end_;
    const float* const exp_store = exp_store_;
    const float* const logits = logits_;
    float* const y = y_;
    const __m512 high = high_;
    const __m512 low = low_;
    const bool streaming = streaming_;
    const auto store = [&](float* p, __m512 v) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      if (streaming) {
        _mm512_stream_ps(p, v);
      } else {
        _mm512_storeu_ps(p, v);
      }
    };
    size_t i = next_;
    if (exp_store == nullptr) {
      RowShift shift;
      shift.magic = magic_;
      shift.lower = lower_;
      for (; i < end; i += kLanes) {
        const __m512 e = ExpShiftedFast(_mm512_loadu_ps(logits + i), shift);
        store(y + i, _mm512_fmadd_ps(e, high, _mm512_mul_ps(e, low)));
      }
    } else {
      for (; i < end; i += kLanes) {
        const __m512 e = _mm512_loadu_ps(exp_store + i);
        store(y + i, _mm512_fmadd_ps(e, high, _mm512_mul_ps(e, low)));
      }
    }
    next_ = i;
  }

  // Writes the rest of the row and ends it.
  void Finish() {
    if (y_ == nullptr) {
      return;
    }
    Advance(classes_);
    if (body_end_ < classes_) {
      const __mmask16 mask = FirstLanes(classes_ - body_end_);
      const __m512 e = exp_store_ != nullptr ? _mm512_maskz_loadu_ps(mask, exp_store_ + body_end_)
                                             : Exponentials(_mm512_maskz_loadu_ps(mask, logits_ + body_end_));
      _mm512_mask_storeu_ps(y_ + body_end_, mask, Scale(e));
    }
    y_ = nullptr;
  }

 private:
  SIMD_NN_ALWAYS_INLINE __m512 Scale(__m512 e) const { return _mm512_fmadd_ps(e, high_, _mm512_mul_ps(e, low_)); }

  SIMD_NN_ALWAYS_INLINE __m512 Exponentials(__m512 x) const {
    RowShift shift;
    shift.magic = magic_;
    shift.lower = lower_;
    return ExpShiftedFast(x, shift);
  }

  const float* exp_store_ = nullptr;
  const float* logits_ = nullptr;  // read when exp_store_ is null
  float* y_ = nullptr;  // null when no row is in progress
  size_t classes_ = 0;
  size_t next_ = 0;
  size_t body_end_ = 0;
  bool streaming_ = false;
  __m512 magic_ = _mm512_setzero_ps();  // of the row's RowShift, for Exponentials
  __m512 lower_ = _mm512_setzero_ps();
  __m512 high_ = _mm512_setzero_ps();
  __m512 low_ = _mm512_setzero_ps();
};

void ScaleRow(const float* exp_store, float* y, size_t classes, double inverse_sum, bool streaming) {
  RowScaler scaler;
  scaler.Start(exp_store, nullptr, MakeRowShift(0.0f), y, classes, inverse_sum, streaming);
  scaler.Finish();
}

void SoftmaxRowExact(const float* x, float* y, size_t classes, float* scratch) {
  float max;
  if (!FindRowMax(nullptr, x, classes, &max, nullptr)) {
    FillNaN(y, classes);
    return;
  }
  const __m512 m = _mm512_set1_ps(max);
  const __m512 neg_m = _mm512_set1_ps(-max);

  // Pass 2: S = sum of e^(x - max) in float64 lanes. e^(x - max) is stored in y and scaled in place by
  // pass 3, or, in streaming mode, stored in the cache-resident scratch row so that y is written only once.
  float* exp_store = scratch != nullptr ? scratch : y;
  __m512d sum0 = _mm512_setzero_pd();
  __m512d sum1 = _mm512_setzero_pd();
  __m512d sum2 = _mm512_setzero_pd();
  __m512d sum3 = _mm512_setzero_pd();
  size_t i = 0;
  for (; i + 2 * kLanes <= classes; i += 2 * kLanes) {
    const __m512 e0 = ExpShifted(_mm512_loadu_ps(x + i), m, neg_m);
    const __m512 e1 = ExpShifted(_mm512_loadu_ps(x + i + kLanes), m, neg_m);
    sum0 = _mm512_add_pd(sum0, LowToDouble(e0));
    sum1 = _mm512_add_pd(sum1, HighToDouble(e0));
    sum2 = _mm512_add_pd(sum2, LowToDouble(e1));
    sum3 = _mm512_add_pd(sum3, HighToDouble(e1));
    _mm512_storeu_ps(exp_store + i, e0);
    _mm512_storeu_ps(exp_store + i + kLanes, e1);
  }
  for (; i < classes; i += kLanes) {
    const __mmask16 mask = ChunkMask(i, classes);
    const __m512 e = _mm512_maskz_mov_ps(mask, ExpShifted(_mm512_maskz_loadu_ps(mask, x + i), m, neg_m));
    sum0 = _mm512_add_pd(sum0, LowToDouble(e));
    sum1 = _mm512_add_pd(sum1, HighToDouble(e));
    _mm512_mask_storeu_ps(exp_store + i, mask, e);
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(sum0, sum1), _mm512_add_pd(sum2, sum3)));
  ScaleRow(exp_store, y, classes, 1.0 / sum, scratch != nullptr);
}

// Maximum of a row ahead, accumulated by the pass over the current row. The row loops find the maximum two rows
// ahead, so that its reduction and the row shift are ready long before that row starts. Finding them when the
// row started left the core waiting on them at every row (about 150 cycles per row of 1000 classes).
struct NextRowMax {
  const float* row;  // null for the last row
  const float* aligned_row;  // row rounded down to 64 bytes, for AddGroupToNextRowMaxAligned
  size_t lead;               // row - aligned_row, in elements
  size_t classes;
  __m512 max0;
  __m512 max1;
  __m512i first;  // with groups: per lane, the offsets of the first and last groups that contain its maximum
  __m512i last;
};

SIMD_NN_ALWAYS_INLINE NextRowMax StartNextRowMax(const float* row, size_t classes) {
  const float* aligned_row = reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) & ~uintptr_t{63});
  return NextRowMax{row, aligned_row, static_cast<size_t>(row - aligned_row), classes,
                    _mm512_set1_ps(-__builtin_inff()), _mm512_set1_ps(-__builtin_inff()),
                    _mm512_setzero_si512(), _mm512_setzero_si512()};
}

// Takes the group of vectors at offset i (lanes in masks) of the row ahead into its maximum.
template <bool kWhole>
SIMD_NN_ALWAYS_INLINE void AddGroupToNextRowMax(NextRowMax* next, size_t i, const __mmask16* masks) {
  if (next->row == nullptr) {
    return;
  }
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; k += 2) {
    next->max0 = _mm512_max_ps(next->max0, LoadGroupVector<kWhole>(next->row + i + k * kLanes, masks[k], minus_inf));
    next->max1 = _mm512_max_ps(next->max1,
                               LoadGroupVector<kWhole>(next->row + i + (k + 1) * kLanes, masks[k + 1], minus_inf));
  }
}

SIMD_NN_ALWAYS_INLINE float FinishNextRowMax(const NextRowMax& next) {
  return _mm512_reduce_max_ps(_mm512_max_ps(next.max0, next.max1));
}

// Returns the lanes of the aligned vector at aligned_row + offset that hold elements of the row ahead.
SIMD_NN_ALWAYS_INLINE __mmask16 NextRowLanes(const NextRowMax& next, size_t offset) {
  const size_t end = next.lead + next.classes;
  if (offset >= end) {
    return 0;
  }
  __mmask16 lanes = end - offset >= kLanes ? static_cast<__mmask16>(0xFFFF) : FirstLanes(end - offset);
  if (offset < next.lead) {
    lanes = static_cast<__mmask16>(lanes & ~FirstLanes(next.lead - offset));
  }
  return lanes;
}

// Works as AddGroupToNextRowMax for softmax, but reads the row ahead in 64-byte aligned vectors. It takes those
// at offsets i to i + 127 from aligned_row, which lie lead elements before the group of the row being computed.
// A maximum does not depend on how the row is cut, and rows of 1000 classes start at every other 32-byte
// offset. With loads split across cache lines, softmax over 1000 classes took 2-6% longer at 64K to 16M
// elements (AMD Zen 5, tools/ab.mjs). In a whole group, only the first group's first vector can reach before
// the row, and none reaches past it.
// Cross-entropy keeps AddGroupToNextRowMax: with the gradient over 1000 classes at 64K elements, it ran no faster
// with this one (tools/row-timing.cpp).
template <bool kWhole>
SIMD_NN_ALWAYS_INLINE void AddGroupToNextRowMaxAligned(NextRowMax* next, size_t i) {
  if (next->row == nullptr) {
    return;
  }
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 v[kSumGroup];
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    const float* p = next->aligned_row + i + k * kLanes;
    if constexpr (kWhole) {
      v[k] = k == 0 ? _mm512_mask_load_ps(minus_inf, NextRowLanes(*next, i), p) : _mm512_load_ps(p);
    } else {
      v[k] = _mm512_mask_load_ps(minus_inf, NextRowLanes(*next, i + k * kLanes), p);
    }
  }
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; k += 2) {
    next->max0 = _mm512_max_ps(next->max0, v[k]);
    next->max1 = _mm512_max_ps(next->max1, v[k + 1]);
  }
}

// Returns the maximum of the row ahead after AddGroupToNextRowMaxAligned has taken every group of the row
// being computed. Their vectors end lead elements before the last group's end, which can leave one vector.
SIMD_NN_ALWAYS_INLINE float FinishNextRowMaxAligned(const NextRowMax& next) {
  const size_t groups_end = (next.classes + kSumGroup * kLanes - 1) / (kSumGroup * kLanes) * (kSumGroup * kLanes);
  const __m512 rest = _mm512_mask_load_ps(_mm512_set1_ps(-__builtin_inff()), NextRowLanes(next, groups_end),
                                          next.aligned_row + groups_end);
  return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(next.max0, next.max1), rest));
}

// Works as AddGroupToNextRowMax and also notes which groups contain each lane's maximum (in max0 alone), so
// that pass 2 of the row can look for the entries equal to its maximum in those groups only. It costs about
// five operations per group more. The loss of cross-entropy over 1000 classes ran 3-8% faster with it at 64K
// and 1M elements (AMD Zen 5, tools/ab.mjs, four runs each). With the gradient, 64K elements ran about 10%
// slower, so gradient rows go without it.
template <bool kWhole>
SIMD_NN_ALWAYS_INLINE void AddGroupToNextRowMaxWithGroups(NextRowMax* next, size_t i, const __mmask16* masks) {
  if (next->row == nullptr) {
    return;
  }
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 v[kSumGroup];
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    v[k] = LoadGroupVector<kWhole>(next->row + i + k * kLanes, masks[k], minus_inf);
  }
  const __m512 group_max = _mm512_max_ps(_mm512_max_ps(_mm512_max_ps(v[0], v[1]), _mm512_max_ps(v[2], v[3])),
                                         _mm512_max_ps(_mm512_max_ps(v[4], v[5]), _mm512_max_ps(v[6], v[7])));
  const __m512i offset = _mm512_set1_epi32(static_cast<int>(i));
  const __mmask16 above = _mm512_cmp_ps_mask(group_max, next->max0, _CMP_GT_OQ);
  const __mmask16 reached = _mm512_cmp_ps_mask(group_max, next->max0, _CMP_GE_OQ);
  next->first = _mm512_mask_mov_epi32(next->first, above, offset);
  next->last = _mm512_mask_mov_epi32(next->last, reached, offset);
  next->max0 = _mm512_max_ps(next->max0, group_max);
}

// Returns the maximum of the row ahead from AddGroupToNextRowMaxWithGroups, with the offsets of the first and
// last groups that contain it. When a NaN got in the way, the range is the whole row (the fast path finds NaN
// in the sum).
SIMD_NN_ALWAYS_INLINE float FinishNextRowMaxWithGroups(const NextRowMax& next, size_t* first, size_t* last) {
  const float max = _mm512_reduce_max_ps(next.max0);
  const __mmask16 lanes = _mm512_cmp_ps_mask(next.max0, _mm512_set1_ps(max), _CMP_EQ_OQ);
  *first = 0;
  *last = SIZE_MAX;
  if (lanes != 0) {
    *first = static_cast<size_t>(_mm512_mask_reduce_min_epi32(lanes, next.first));
    *last = static_cast<size_t>(_mm512_mask_reduce_max_epi32(lanes, next.last));
  }
  return max;
}

// Pass 2 of the fast softmax. Stores e^(x - M) of the row in exp_store unless that is null, and returns their
// sum in float64, NaN when the row has a NaN entry. exp_store may be exactly x: each vector is read before it
// is written. Along the way it accumulates the maximum of a row ahead, prefetches `prefetch` (a row further
// ahead, or null) and, unless previous_row is null, writes the previous row's output (pass 3) a vector per
// vector of this row. Spread out, its non-temporal stores drain to memory while the exponentials compute,
// where a separate pass sent them in bursts (softmax of 16M elements: about 15% faster on AMD Zen 5).
double SoftmaxExpPass(const float* x, float* exp_store, size_t classes, const RowShift& shift, NextRowMax* next,
                      const float* prefetch, RowScaler* previous_row) {
  __m512d sum_low = _mm512_setzero_pd();
  __m512d sum_high = _mm512_setzero_pd();
  // Lanes past the row load as -inf, whose exponential is 0.
  const auto process_group = [&](size_t i, const __mmask16* masks, size_t count, auto whole)
                                 SIMD_NN_LAMBDA_ALWAYS_INLINE {
    constexpr bool kWhole = decltype(whole)::value;
    __m512 e[kSumGroup];
#pragma GCC unroll 8
    for (size_t k = 0; k < kSumGroup; ++k) {
      e[k] = LoadGroupVector<kWhole>(x + i + k * kLanes, masks[k], _mm512_set1_ps(-__builtin_inff()));
    }
    ExpShiftedFastGroup(e, shift);
    if (exp_store != nullptr) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        StoreGroupVector<kWhole>(exp_store + i + k * kLanes, masks[k], e[k]);
      }
    }
    AddGroupToNextRowMaxAligned<kWhole>(next, i);
    if (prefetch != nullptr) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        PrefetchRow(prefetch, i + k * kLanes);
      }
    }
    if (previous_row != nullptr) {
      previous_row->Advance(count);
    }
    AccumulateGroup(SumOfGroup(e), &sum_low, &sum_high);
  };

  __mmask16 masks[kSumGroup];
  GroupMasks(0, kSumGroup * kLanes, masks);
  size_t i = 0;
  for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
    process_group(i, masks, kSumGroup, WholeGroup{});
  }
  if (i < classes) {
    process_group(i, masks, GroupMasks(i, classes, masks), PartialGroup{});
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(sum_low, sum_high));
}

// The fast softmax of all rows, as a pipeline: while row r computes its exponentials, it finds row r + 2's
// maximum and writes row r - 1's output. Rows that the fast path cannot take (a maximum that is NaN,
// infinite or beyond kMaxFastRowMax) go through SoftmaxRowExact.
//
// With streaming (non-temporal stores of y), pass 2 keeps no e^(x - M), and pass 3 computes it again from the
// logits, which are still in cache. Stored to a scratch row, they sat in the store queue behind the
// non-temporal stores, which drain slowly, and the row waited on them: computing again was 15-20% faster at
// 16M elements and 1000 classes (AMD Zen 5, tools/ab.mjs). Otherwise e^(x - M) goes into y and is scaled in
// place, and the stores of pass 2 bring the lines of y into cache while the exponentials keep the core busy.
void SoftmaxRowsFast(const float* x, float* y, size_t rows, size_t classes, float* scratch, bool streaming) {
  const bool prefetch_rows = PrefetchesRows(rows * classes);
  RowScaler previous_row;
  RowShift shift = MakeRowShift(RowMax(x, classes));
  RowShift next_shift = rows > 1 ? MakeRowShift(RowMax(x + classes, classes)) : shift;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * classes;
    float* out = y + r * classes;
    NextRowMax ahead = StartNextRowMax(r + 2 < rows ? row + 2 * classes : nullptr, classes);
    float ahead_max = 0.0f;
    if (shift.fast) {
      float* exp_store = streaming ? nullptr : out;
      const float* prefetch = prefetch_rows && r + kPrefetchRows < rows ? row + kPrefetchRows * classes : nullptr;
      // Only non-temporal stores gain from spreading pass 3; ordinary ones ran faster in one loop (in cache).
      const double sum =
          SoftmaxExpPass(row, exp_store, classes, shift, &ahead, prefetch, streaming ? &previous_row : nullptr);
      previous_row.Finish();
      if (sum != sum) {
        FillNaN(out, classes);
      } else {
        // S >= e^(max - M) >= e^(-ln2/32), so 1 / S is finite.
        previous_row.Start(exp_store, row, shift, out, classes, 1.0 / sum, streaming);
      }
      if (ahead.row != nullptr) {
        ahead_max = FinishNextRowMaxAligned(ahead);
      }
    } else {
      previous_row.Finish();
      SoftmaxRowExact(row, out, classes, streaming ? scratch : nullptr);
      if (ahead.row != nullptr) {
        ahead_max = RowMax(ahead.row, classes);
      }
    }
    shift = next_shift;
    if (ahead.row != nullptr) {
      next_shift = MakeRowShift(ahead_max);
    }
  }
  previous_row.Finish();
}

// Row statistics of a group of up to 16 rows, one row per lane.
struct LaneGroup {
  __m512 max;      // the row maximum, NaN for rows without a softmax
  __m512 neg_max;  // -max
  __mmask16 invalid;
};

// Writes to out the transpose of the 16 x 16 matrix whose rows are the vectors in, in four steps of 16 shuffles.
SIMD_NN_ALWAYS_INLINE void Transpose16(const __m512* in, __m512* out) {
  // Pairs of rows interleaved within each 128-bit lane.
  __m512 t[kLanes];
#pragma GCC unroll 8
  for (size_t r = 0; r < kLanes; r += 2) {
    t[r] = _mm512_unpacklo_ps(in[r], in[r + 1]);
    t[r + 1] = _mm512_unpackhi_ps(in[r], in[r + 1]);
  }
  // Groups of four rows: u[4i + k] contains entries k, k + 4, k + 8 and k + 12 of rows 4i to 4i + 3.
  __m512 u[kLanes];
#pragma GCC unroll 4
  for (size_t r = 0; r < kLanes; r += 4) {
    u[r] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[r]), _mm512_castps_pd(t[r + 2])));
    u[r + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[r]), _mm512_castps_pd(t[r + 2])));
    u[r + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[r + 1]), _mm512_castps_pd(t[r + 3])));
    u[r + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[r + 1]), _mm512_castps_pd(t[r + 3])));
  }
  // Groups of eight rows, then all sixteen: 128-bit lanes move across vectors.
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; ++k) {
    t[k] = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);
    t[4 + k] = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD);
    t[8 + k] = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
    t[12 + k] = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
  }
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; ++k) {
    out[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);
    out[k + 8] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD);
    out[k + 4] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);
    out[k + 12] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xDD);
  }
}

// Transposes two 8 x 8 matrices at once into out, in three steps of 8 shuffles. Row r of the first is the low
// 256-bit half of in[r], and row r of the second its high half.
SIMD_NN_ALWAYS_INLINE void TransposeHalves8(const __m512* in, __m512* out) {
  __m512 t[8];
#pragma GCC unroll 4
  for (size_t r = 0; r < 8; r += 2) {
    t[r] = _mm512_unpacklo_ps(in[r], in[r + 1]);
    t[r + 1] = _mm512_unpackhi_ps(in[r], in[r + 1]);
  }
  // u[4i + k] contains entries k and k + 4 of rows 4i to 4i + 3 of each matrix.
  __m512 u[8];
#pragma GCC unroll 2
  for (size_t r = 0; r < 8; r += 4) {
    u[r] = _mm512_shuffle_ps(t[r], t[r + 2], 0x44);
    u[r + 1] = _mm512_shuffle_ps(t[r], t[r + 2], 0xEE);
    u[r + 2] = _mm512_shuffle_ps(t[r + 1], t[r + 3], 0x44);
    u[r + 3] = _mm512_shuffle_ps(t[r + 1], t[r + 3], 0xEE);
  }
  // 128-bit lanes exchanged within each half: lanes 0 and 2 of u[k] and u[k + 4] make entry k, lanes 1 and 3
  // entry k + 4.
  const __m512i low_lanes = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i high_lanes = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; ++k) {
    out[k] = _mm512_permutex2var_ps(u[k], low_lanes, u[4 + k]);
    out[k + 4] = _mm512_permutex2var_ps(u[k], high_lanes, u[4 + k]);
  }
}

// Loads a group of up to 16 rows of up to 16 classes in lane order: columns[j] gets entry j of each row, row r
// in lane r. Rows past `rows` and entries past `classes` read as 0. With row loads and a transpose in place of a
// gather per column, cross-entropy over 10 classes ran about 1.6x as fast (AMD Zen 5, tools/ab.mjs). Rows of up
// to 8 classes go two to a vector, and their transpose takes half the shuffles: 2 classes no longer ran slower
// than with gathers.
SIMD_NN_ALWAYS_INLINE void LoadColumns(const float* group, size_t rows, size_t classes, __m512* columns) {
  if (classes <= 8) {
    const __mmask8 row_mask = static_cast<__mmask8>((1u << classes) - 1u);
    __m512 row_pairs[8];
#pragma GCC unroll 8
    for (size_t r = 0; r < 8; ++r) {
      const bool low_inside = r < rows;
      const bool high_inside = r + 8 < rows;
      const __m256 low = _mm256_maskz_loadu_ps(low_inside ? row_mask : static_cast<__mmask8>(0),
                                               group + (low_inside ? r * classes : 0));
      const __m256 high = _mm256_maskz_loadu_ps(high_inside ? row_mask : static_cast<__mmask8>(0),
                                                group + (high_inside ? (r + 8) * classes : 0));
      row_pairs[r] = _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
    }
    TransposeHalves8(row_pairs, columns);
    return;
  }
  const __mmask16 row_mask = FirstLanes(classes);
  __m512 row_vectors[kLanes];
#pragma GCC unroll 16
  for (size_t r = 0; r < kLanes; ++r) {
    const bool inside = r < rows;
    row_vectors[r] =
        _mm512_maskz_loadu_ps(inside ? row_mask : static_cast<__mmask16>(0), group + (inside ? r * classes : 0));
  }
  Transpose16(row_vectors, columns);
}

// Stores columns in lane order (see LoadColumns) as `rows` rows of `classes` entries.
SIMD_NN_ALWAYS_INLINE void StoreColumns(const __m512* columns, size_t rows, size_t classes, float* group) {
  if (classes <= 8) {
    const __mmask8 row_mask = static_cast<__mmask8>((1u << classes) - 1u);
    __m512 row_pairs[8];
    TransposeHalves8(columns, row_pairs);
    for (size_t r = 0; r < rows; ++r) {
      const __m256 half = r < 8 ? _mm512_castps512_ps256(row_pairs[r]) : _mm512_extractf32x8_ps(row_pairs[r - 8], 1);
      _mm256_mask_storeu_ps(group + r * classes, row_mask, half);
    }
    return;
  }
  __m512 row_vectors[kLanes];
  Transpose16(columns, row_vectors);
  const __mmask16 row_mask = FirstLanes(classes);
  for (size_t r = 0; r < rows; ++r) {
    _mm512_mask_storeu_ps(group + r * classes, row_mask, row_vectors[r]);
  }
}

// Rows of 17 to this many classes take SoftmaxLanes and XentLanes too, their columns transposed 16 at a time.
// Vectorized within the row, each row paid its reductions alone: at 64K elements, softmax over 17 classes took
// 49x a copy and the cross-entropy loss 56x, against 16x and 18x across rows (AMD Zen 5, tools/ab.mjs).
// NOTE: a group costs the same for 1 row as for 16, so calls of a few rows pay more than within the row. One
// row of 48 classes took 360 ns per softmax call instead of 160, and one of 64 took 420. At 64 classes and
// 64K elements, batches gained only 1.2 to 1.35 times, so the limit is 48, where they gain 1.4 to 1.5 times.
constexpr size_t kMaxWideLanesClasses = 48;

// Loads columns [first, first + 16) of a group of up to 16 rows of `classes` entries in lane order, as
// LoadColumns does for a whole row. Columns past the row load as 0.
SIMD_NN_ALWAYS_INLINE void LoadColumnChunk(const float* group, size_t rows, size_t classes, size_t first,
                                           __m512* columns) {
  const __mmask16 row_mask = ChunkMask(first, classes);
  __m512 row_vectors[kLanes];
#pragma GCC unroll 16
  for (size_t r = 0; r < kLanes; ++r) {
    const bool inside = r < rows;
    row_vectors[r] = _mm512_maskz_loadu_ps(inside ? row_mask : static_cast<__mmask16>(0),
                                           group + (inside ? r * classes + first : 0));
  }
  Transpose16(row_vectors, columns);
}

// Stores columns [first, first + 16) of a group (see LoadColumnChunk).
SIMD_NN_ALWAYS_INLINE void StoreColumnChunk(const __m512* columns, size_t rows, size_t classes, size_t first,
                                            float* group) {
  __m512 row_vectors[kLanes];
  Transpose16(columns, row_vectors);
  const __mmask16 row_mask = ChunkMask(first, classes);
  for (size_t r = 0; r < rows; ++r) {
    _mm512_mask_storeu_ps(group + r * classes + first, row_mask, row_vectors[r]);
  }
}

SIMD_NN_ALWAYS_INLINE LaneGroup ReduceColumns(const __m512* columns, size_t classes) {
  const __m512 inf = _mm512_set1_ps(__builtin_inff());
  __m512 max = _mm512_sub_ps(_mm512_setzero_ps(), inf);
  __mmask16 nan = 0;
  for (size_t j = 0; j < classes; ++j) {
    nan |= _mm512_cmp_ps_mask(columns[j], columns[j], _CMP_UNORD_Q);
    max = _mm512_max_ps(max, columns[j]);
  }
  const __mmask16 infinite = _mm512_cmp_ps_mask(_mm512_abs_ps(max), inf, _CMP_EQ_OQ);
  LaneGroup group;
  group.invalid = nan | infinite;
  group.max = _mm512_mask_mov_ps(max, group.invalid, _mm512_set1_ps(__builtin_nanf("")));
  group.neg_max = _mm512_sub_ps(_mm512_setzero_ps(), group.max);
  return group;
}

void SoftmaxLanes(const float* x, float* y, size_t rows, size_t classes) {
  __m512 columns[kMaxWideLanesClasses];
  const bool prefetch = PrefetchesRows(rows * classes);

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const size_t ahead = r0 + kPrefetchGroups * kLanes;
    if (prefetch && ahead + kLanes <= rows) {
      PrefetchSpan(x + ahead * classes, kLanes * classes, false);
      PrefetchSpan(y + ahead * classes, kLanes * classes, true);
    }

    // The whole group is read before the first store, so y may be exactly x.
    if (classes <= kLanes) {
      LoadColumns(x + r0 * classes, group_rows, classes, columns);
    } else {
      for (size_t first = 0; first < classes; first += kLanes) {
        LoadColumnChunk(x + r0 * classes, group_rows, classes, first, columns + first);
      }
    }
    const LaneGroup group = ReduceColumns(columns, classes);
    __m512d sum_low = _mm512_setzero_pd();
    __m512d sum_high = _mm512_setzero_pd();
    for (size_t j = 0; j < classes; ++j) {
      columns[j] = ExpShifted(columns[j], group.max, group.neg_max);
      sum_low = _mm512_add_pd(sum_low, LowToDouble(columns[j]));
      sum_high = _mm512_add_pd(sum_high, HighToDouble(columns[j]));
    }
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512 inverse_sum = JoinToFloat(_mm512_div_pd(one, sum_low), _mm512_div_pd(one, sum_high));
    for (size_t j = 0; j < classes; ++j) {
      // Rows without a softmax have a NaN maximum: their entries become NaN.
      columns[j] = PropagateNaN(group.max, _mm512_mul_ps(columns[j], inverse_sum));
    }
    if (classes <= kLanes) {
      StoreColumns(columns, group_rows, classes, y + r0 * classes);
    } else {
      for (size_t first = 0; first < classes; first += kLanes) {
        StoreColumnChunk(columns + first, group_rows, classes, first, y + r0 * classes);
      }
    }
  }
}

// Softmax of rows of up to 16 classes, several rows per vector. Each row takes a segment of P lanes, P the
// smallest power of two >= classes, so a vector takes 16 / P rows: the rows are loaded contiguously and spread
// to their segments (VEXPANDPS), the maximum and the sum of each segment are formed by log2(P) exchange steps
// (every lane of a segment ends up with them), and the results are packed back (VCOMPRESSPS). The exponential
// is the fast one of the long rows, with each segment's own shift. About 30 + 4 log2(P) vector operations per
// 16 lanes. A lanes-as-rows softmax (a transposed group, one row per lane) with the same fast exponential
// took 1.0x (10 classes) to 4x (2 classes) as long (AMD Zen 5, tools/ab.mjs). That layout, with the exact
// exponential (SoftmaxLanes), remains for rows with a maximum the fast path cannot take (NaN, infinite or
// beyond kMaxFastRowMax).
class SegmentLayout {
 public:
  explicit SegmentLayout(size_t classes) {
    width_ = 1;
    while (width_ < classes) {
      width_ *= 2;
    }
    rows_per_vector_ = kLanes / width_;
    const unsigned segment = (1u << classes) - 1u;
    unsigned lanes = 0;
    for (size_t s = 0; s < rows_per_vector_; ++s) {
      lanes |= segment << (s * width_);
    }
    lanes_ = static_cast<__mmask16>(lanes);
  }

  size_t rows_per_vector() const { return rows_per_vector_; }

  // The lanes that carry elements when the vector takes `rows` rows (at most rows_per_vector()).
  __mmask16 Lanes(size_t rows) const {
    return rows == rows_per_vector_ ? lanes_
                                    : static_cast<__mmask16>(lanes_ & ((1u << (rows * width_)) - 1u));
  }

  // Returns the maximum (or, with add, the sum) of each segment in every lane of the segment. The exchange
  // steps pair lanes that differ in one index bit below the segment width.
  __m512 Reduce(__m512 v, bool add) const {
    const auto combine = [add](__m512 a, __m512 b) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      return add ? _mm512_add_ps(a, b) : _mm512_max_ps(a, b);
    };
    if (width_ >= 2) {
      v = combine(v, _mm512_permute_ps(v, 0xB1));
    }
    if (width_ >= 4) {
      v = combine(v, _mm512_permute_ps(v, 0x4E));
    }
    if (width_ >= 8) {
      v = combine(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    }
    if (width_ >= 16) {
      v = combine(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    }
    return v;
  }

 private:
  size_t width_;
  size_t rows_per_vector_;
  __mmask16 lanes_;
};

// Computes kSmallRowVectors vectors of rows at a time, each step over all of them: one vector's steps form a
// chain of about 110 cycles, and one vector at a time ran 3x slower than eight (AMD Zen 5, 16 classes).
constexpr size_t kSmallRowVectors = 8;

void SoftmaxSmallRows(const float* x, float* y, size_t rows, size_t classes);

// Computes one step of SoftmaxSmallRows (up to kSmallRowVectors * kLanes elements) with rows the fast path
// cannot take: rows with a NaN or +inf, only -inf, or a maximum beyond kMaxFastRowMax. Those go through
// SoftmaxLanes one by one. The others go through SoftmaxSmallRows on a copy where those rows are zeros, which
// gives them the same bits as in a step without such rows: a row's result never depends on its neighbours. y
// may be exactly x: every row is read before it is written.
void SoftmaxSmallRowsApart(const float* x, float* y, size_t rows, size_t classes) {
  alignas(64) float input[kSmallRowVectors * kLanes];
  alignas(64) float output[kSmallRowVectors * kLanes];
  bool apart[kSmallRowVectors * kLanes];
  for (size_t r = 0; r < rows; ++r) {
    float max = -__builtin_inff();
    bool has_nan = false;
    for (size_t j = 0; j < classes; ++j) {
      const float v = x[r * classes + j];
      has_nan = has_nan || v != v;
      max = v > max ? v : max;
    }
    apart[r] = has_nan || !(__builtin_fabsf(max) <= kMaxFastRowMax);
    for (size_t j = 0; j < classes; ++j) {
      input[r * classes + j] = apart[r] ? 0.0f : x[r * classes + j];
    }
  }
  SoftmaxSmallRows(input, output, rows, classes);
  for (size_t r = 0; r < rows; ++r) {
    if (apart[r]) {
      SoftmaxLanes(x + r * classes, y + r * classes, 1, classes);
    } else {
      for (size_t j = 0; j < classes; ++j) {
        y[r * classes + j] = output[r * classes + j];
      }
    }
  }
}

void SoftmaxSmallRows(const float* x, float* y, size_t rows, size_t classes) {
  const SegmentLayout layout(classes);
  const size_t rows_per_vector = layout.rows_per_vector();
  const size_t rows_per_step = kSmallRowVectors * rows_per_vector;
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  const bool prefetch = PrefetchesRows(rows * classes);
  for (size_t r0 = 0; r0 < rows; r0 += rows_per_step) {
    const size_t ahead = r0 + kPrefetchGroups * rows_per_step;
    if (prefetch && ahead + rows_per_step <= rows) {
      PrefetchSpan(x + ahead * classes, rows_per_step * classes, false);
      PrefetchSpan(y + ahead * classes, rows_per_step * classes, true);
    }
    __mmask16 contiguous[kSmallRowVectors];
    __mmask16 lanes[kSmallRowVectors];
    size_t first_row[kSmallRowVectors];
    __m512 v[kSmallRowVectors];
    __m512 max[kSmallRowVectors];
    __mmask16 exact = 0;
#pragma GCC unroll 8
    for (size_t k = 0; k < kSmallRowVectors; ++k) {
      first_row[k] = r0 + k * rows_per_vector;
      const size_t left = first_row[k] >= rows ? 0 : rows - first_row[k];
      const size_t count = left < rows_per_vector ? left : rows_per_vector;
      contiguous[k] = count == 0 ? static_cast<__mmask16>(0) : ChunkMask(0, count * classes);
      lanes[k] = layout.Lanes(count);
      // Padding lanes are -inf: they neither raise the maximum nor add to the sum (their exponential is 0).
      const __m512 packed = _mm512_maskz_loadu_ps(contiguous[k], x + (count == 0 ? 0 : first_row[k] * classes));
      v[k] = _mm512_mask_expand_ps(minus_inf, lanes[k], packed);
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kSmallRowVectors; ++k) {
      max[k] = layout.Reduce(v[k], false);
      // NaN fails the comparison, so NaN and infinite maxima take the exact path too.
      const __mmask16 big = _mm512_mask_cmp_ps_mask(lanes[k], _mm512_abs_ps(max[k]),
                                                    _mm512_set1_ps(kMaxFastRowMax), _CMP_NLE_UQ);
      exact = static_cast<__mmask16>(exact | big);
    }
    if (exact != 0) {
      const size_t count = rows - r0 < rows_per_step ? rows - r0 : rows_per_step;
      SoftmaxSmallRowsApart(x + r0 * classes, y + r0 * classes, count, classes);
      continue;
    }

    __m512 e[kSmallRowVectors];
#pragma GCC unroll 8
    for (size_t k = 0; k < kSmallRowVectors; ++k) {
      // Each segment's shift, as MakeRowShift makes it: N = round(16 max / ln2), rounded as the elements are.
      RowShift shift;
      const __m512 n_of_max = _mm512_sub_ps(
          _mm512_fmadd_ps(max[k], _mm512_set1_ps(16.0f * approx::kLog2e), _mm512_set1_ps(approx::kRoundingMagic)),
          _mm512_set1_ps(approx::kRoundingMagic));
      shift.magic = _mm512_sub_ps(_mm512_set1_ps(kRoundingMagicWithBias), n_of_max);
      shift.lower = _mm512_fmadd_ps(n_of_max, _mm512_set1_ps(static_cast<float>(approx::kLn2 / 16.0)),
                                    _mm512_set1_ps(-87.9f));
      e[k] = ExpShiftedFastPrecise(v[k], shift);
    }
#pragma GCC unroll 8
    for (size_t k = 0; k < kSmallRowVectors; ++k) {
      // A NaN entry makes its segment's sum, and so the whole row, NaN. The division rounds once: the sum of
      // up to 16 terms (at most 4 roundings) and the exponential stay well within the 8 ulp bound.
      const __m512 result = _mm512_div_ps(e[k], layout.Reduce(e[k], true));
      if (contiguous[k] != 0) {
        _mm512_mask_storeu_ps(y + first_row[k] * classes, contiguous[k], _mm512_maskz_compress_ps(lanes[k], result));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Softmax cross-entropy

// Terms rounded to subnormal float32 values (off by up to 2^-150 each) can shift the sum below the maximum
// (S') by up to classes * 2^-150, which reaches 2^-23 of S' below classes * 2^-127. Below this much wider
// margin times the class count, S' is added up again with ExpShiftedInDouble. Only rows where one class
// dominates the others by about 69 nats or more get there.
constexpr double kSubnormalTermsSum = 0x1p-100;

// The value S' takes where every term underflows (x - max below -708) although an entry below the maximum is
// finite. S' is then positive, and so is log S: an infinite label at the maximum gives a loss of +-inf and a
// gradient of -+inf there, the limits, rather than inf * 0 = NaN. Against finite labels it is negligible.
constexpr double kUnderflowedRestSum = 0x1p-1000;

// Returns S', the sum of e^(x - max) over the entries below the maximum, with each term in float64, or
// kUnderflowedRestSum where every term underflows but one is finite.
double RestSumInDouble(const float* x, size_t classes, __m512 m, __m512 neg_m) {
  __m512d low_sum = _mm512_setzero_pd();
  __m512d high_sum = _mm512_setzero_pd();
  __mmask16 finite_below = 0;
  for (size_t i = 0; i < classes; i += kLanes) {
    const __mmask16 mask = ChunkMask(i, classes);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    const __mmask16 below_max = _mm512_mask_cmp_ps_mask(mask, v, m, _CMP_NEQ_UQ);
    finite_below = static_cast<__mmask16>(
        finite_below | _mm512_mask_cmp_ps_mask(below_max, v, _mm512_set1_ps(-__builtin_inff()), _CMP_NEQ_OQ));
    __m512d low;
    __m512d high;
    ExpShiftedInDouble(v, m, neg_m, below_max, &low, &high);
    low_sum = _mm512_add_pd(low_sum, low);
    high_sum = _mm512_add_pd(high_sum, high);
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(low_sum, high_sum));
  return sum == 0.0 && finite_below != 0 ? kUnderflowedRestSum : sum;
}

// Computes one row's statistics and, when grad is not null, its gradient e^(x - max) / S - z. grad may be
// exactly x. With a scratch row (streaming mode), e^(x - max) waits there instead of in grad, and grad is
// written once, with non-temporal stores. When grad is exactly x and there is no scratch row, pass 3 computes
// e^(x - max) again. The logits must stay intact until pass 2 is over: a row whose S' is too small adds it up
// again from them (RestSumInDouble).
XentRowStats XentRowExact(const float* z, const float* x, float* grad, size_t classes, float* scratch) {
  const double nan = __builtin_nan("");
  float max;
  double label_sum = 0.0;
  if (!FindRowMax(z, x, classes, &max, &label_sum)) {
    if (grad != nullptr) {
      FillNaN(grad, classes);
    }
    return XentRowStats{nan, nan, nan};
  }
  const __m512 m = _mm512_set1_ps(max);
  const __m512 neg_m = _mm512_set1_ps(-max);
  const __m512d m_double = _mm512_set1_pd(max);

  // Pass 2. Entries equal to the maximum contribute exactly 1 each and are counted apart, so that the sum
  // below the maximum (S') keeps its value for log1p when one class dominates.
  __m512d rest_low = _mm512_setzero_pd();
  __m512d rest_high = _mm512_setzero_pd();
  __m512d shift_low = _mm512_setzero_pd();
  __m512d shift_high = _mm512_setzero_pd();
  __m512i at_max_counts = _mm512_setzero_si512();
  __m512i label_signs = _mm512_setzero_si512();
  size_t max_position = 0;
  float* exp_store = nullptr;
  if (grad != nullptr && scratch != nullptr) {
    exp_store = scratch;
  } else if (grad != nullptr && grad != x) {
    exp_store = grad;
  }
  for (size_t i = 0; i < classes; i += kLanes) {
    const __mmask16 mask = ChunkMask(i, classes);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    const __m512 w = _mm512_maskz_loadu_ps(mask, z + i);
    label_signs = _mm512_or_si512(label_signs, _mm512_castps_si512(w));
    const __m512 e = ExpShifted(v, m, neg_m);

    const __mmask16 at_max = _mm512_mask_cmp_ps_mask(mask, v, m, _CMP_EQ_OQ);
    const __mmask16 below_max = mask & static_cast<__mmask16>(~at_max);
    rest_low = _mm512_mask_add_pd(rest_low, static_cast<__mmask8>(below_max), rest_low, LowToDouble(e));
    rest_high = _mm512_mask_add_pd(rest_high, static_cast<__mmask8>(below_max >> 8), rest_high, HighToDouble(e));
    if (at_max != 0) {
      at_max_counts = CountLanes(at_max, at_max_counts);
      max_position = i + static_cast<size_t>(__builtin_ctz(at_max));
    }

    // A label of exactly 0 contributes nothing, even where x - max is -inf; NaN labels do contribute.
    // With one-hot labels most vectors have none, and the branch skips their float64 work. Terms at the
    // maximum (x - max = 0) are left out of the weighted shift, so that an infinite label there gives
    // label_sum * log S = +-inf rather than inf * 0 = NaN.
    const __mmask16 labeled = _mm512_cmp_ps_mask(w, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (labeled != 0) {
      const __mmask16 shifted = static_cast<__mmask16>(labeled & ~at_max);
      const __m512d s_low = _mm512_sub_pd(LowToDouble(v), m_double);
      const __m512d s_high = _mm512_sub_pd(HighToDouble(v), m_double);
      shift_low = _mm512_mask3_fmadd_pd(LowToDouble(w), s_low, shift_low, static_cast<__mmask8>(shifted));
      shift_high = _mm512_mask3_fmadd_pd(HighToDouble(w), s_high, shift_high, static_cast<__mmask8>(shifted >> 8));
    }

    if (exp_store != nullptr) {
      _mm512_mask_storeu_ps(exp_store + i, mask, e);
    }
  }
  const size_t max_count = static_cast<size_t>(_mm512_reduce_add_epi32(at_max_counts));
  double rest = _mm512_reduce_add_pd(_mm512_add_pd(rest_low, rest_high));
  if (rest < static_cast<double>(classes) * kSubnormalTermsSum) {
    rest = RestSumInDouble(x, classes, m, neg_m);
  }
  XentRowStats stats;
  stats.log1p_argument = static_cast<double>(max_count - 1) + rest;
  stats.label_sum = label_sum;
  stats.weighted_shift = _mm512_reduce_add_pd(_mm512_add_pd(shift_low, shift_high));
  if (_mm512_test_epi32_mask(label_signs, _mm512_set1_epi32(INT32_MIN)) != 0 && HasNegativeLabel(z, classes)) {
    // Terms of both signs can cancel below the rounding of x - max or of the label sum. Keeps the float64
    // sums where a label or logit is not finite. A label of -0 alone sets the sign bit but cancels nothing.
    ExactLabelSums(z, x, classes, max, &stats.label_sum, &stats.weighted_shift);
  }
  // x is still intact here (pass 3 has not run).
  if (__builtin_isinf(label_sum)) {
    stats.label_at_max = LabelsAtMax(z, x, classes, max);
  }
  if (grad == nullptr) {
    return stats;
  }

  // Pass 3: grad = e * (1 / S) - z, with e stored by pass 2 or computed again from x.
  //
  // A single maximum: p - z = 1 / (1 + S') - z is computed as ((1 - z) - z S') / S, which keeps the tiny
  // gradient of a dominant class instead of cancelling 1 / S against z. With S' = 0 (every other logit -inf),
  // an infinite z would make z S' NaN; the gradient is 1 - z. Ordinary stores take the value after the row.
  // Non-temporal ones blend it into the vector that contains its position, so that no ordinary store follows a
  // non-temporal one to the same line. The alternative, an SFENCE per row before a scalar store, drains the
  // write-combining buffers to memory: 64 classes at 16M elements took 29x a copy with it and 8x without
  // (AMD Zen 5, tools/ab.mjs).
  const double sum = static_cast<double>(max_count) + rest;
  const __m512 inverse_sum = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  const size_t fixed_position = max_count == 1 ? max_position : SIZE_MAX;
  __m512 fixed_value = _mm512_setzero_ps();
  if (max_count == 1) {
    const double label = z[max_position];
    fixed_value = _mm512_set1_ps(static_cast<float>(((1.0 - label) - (rest > 0.0 ? label * rest : 0.0)) / sum));
  }
  const auto gradient = [&](size_t i, __m512 e, __m512 label) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m512 g = _mm512_fmsub_ps(e, inverse_sum, label);
    if (fixed_position - i < kLanes) {
      return _mm512_mask_mov_ps(g, static_cast<__mmask16>(1u << (fixed_position - i)), fixed_value);
    }
    return g;
  };
  if (scratch == nullptr) {
    for (size_t i = 0; i < classes; i += kLanes) {
      const __mmask16 mask = ChunkMask(i, classes);
      const __m512 e = exp_store != nullptr ? _mm512_maskz_loadu_ps(mask, grad + i)
                                            : ExpShifted(_mm512_maskz_loadu_ps(mask, x + i), m, neg_m);
      _mm512_mask_storeu_ps(grad + i, mask, _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, z + i)));
    }
    if (fixed_position < classes) {
      grad[fixed_position] = _mm512_cvtss_f32(fixed_value);
    }
  } else {
    // The head and the tail are ordinary stores, to lines that no non-temporal store of this row touches. The
    // caller fences the non-temporal stores once, after the last row.
    const size_t head = ElementsToAlignment(grad) < classes ? ElementsToAlignment(grad) : classes;
    size_t i = 0;
    if (head != 0) {
      const __mmask16 mask = FirstLanes(head);
      const __m512 e = _mm512_maskz_loadu_ps(mask, scratch);
      _mm512_mask_storeu_ps(grad, mask, gradient(0, e, _mm512_maskz_loadu_ps(mask, z)));
    }
    for (i = head; i + kLanes <= classes; i += kLanes) {
      _mm512_stream_ps(grad + i, gradient(i, _mm512_loadu_ps(scratch + i), _mm512_loadu_ps(z + i)));
    }
    if (i < classes) {
      const __mmask16 mask = FirstLanes(classes - i);
      const __m512 e = _mm512_maskz_loadu_ps(mask, scratch + i);
      _mm512_mask_storeu_ps(grad + i, mask, gradient(i, e, _mm512_maskz_loadu_ps(mask, z + i)));
    }
  }
  return stats;
}

// A row's gradient waiting for pass 3 of the fast cross-entropy path.
//
// Only scalars and pointers, no vectors: the row's RowShift is made again from `max` where needed. The fields
// are written one by one. A copy of a struct with vector members read them back with 64-byte loads, which
// waited for those stores to complete. That copy took about a fifth of cross-entropy with the gradient at 16M
// elements (AMD Zen 5, perf).
struct PendingGradient {
  float* grad;             // null when no row waits
  const float* labels;
  const float* logits;     // read again when exp_store is null
  const float* exp_store;  // e^(x - M) from pass 2, or null to recompute it from the logits
  float max;               // the row maximum, from which MakeRowShift gives the row's shift
  float inverse_sum;       // 1 / S_M
  size_t fixed_position;   // the element whose gradient is fixed_value, or SIZE_MAX
  float fixed_value;
  size_t row;              // the row's index
  bool sums_labels;        // whether pass 3 adds up the labels (WriteGradientAndLabelSums)
};

// Pass 3 of the fast cross-entropy path: grad = e * (1 / S_M) - z, except at the fixed position (the gradient
// of a single maximum, computed apart). With streaming, grad is written with non-temporal stores after an
// ordinary head that aligns it to 64 bytes. The fixed value is blended into its vector rather than stored
// afterwards, so that no ordinary store follows a non-temporal one to the same line.
void WriteGradient(const PendingGradient& row, size_t classes, bool streaming) {
  // Locals, not the fields of `row`: the compiler would reload those after every store to grad.
  float* const grad = row.grad;
  const float* const labels = row.labels;
  const float* const logits = row.logits;
  const float* const exp_store = row.exp_store;
  const RowShift shift = MakeRowShift(row.max);
  const __m512 inverse_sum = _mm512_set1_ps(row.inverse_sum);
  const auto gradient = [&](size_t i, __mmask16 mask) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m512 e = exp_store != nullptr ? _mm512_maskz_loadu_ps(mask, exp_store + i)
                                          : ExpShiftedFast(_mm512_maskz_loadu_ps(mask, logits + i), shift);
    return _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, labels + i));
  };
  // The gradient of the vector whose last lanes (in mask) are elements [0, head).
  const auto gradient_ending_at = [&](size_t head, __mmask16 mask) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m512 e = exp_store != nullptr
                         ? _mm512_maskz_loadu_ps(mask, VectorEndingAt(exp_store, head))
                         : ExpShiftedFast(_mm512_maskz_loadu_ps(mask, VectorEndingAt(logits, head)), shift);
    return _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, VectorEndingAt(labels, head)));
  };
  // Writes the whole vectors in [begin, end) with non-temporal or ordinary stores.
  const auto write_vectors = [&](size_t begin, size_t end) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __mmask16 all = static_cast<__mmask16>(0xFFFF);
    if (streaming) {
      for (size_t i = begin; i < end; i += kLanes) {
        _mm512_stream_ps(grad + i, gradient(i, all));
      }
    } else if (exp_store != nullptr) {
      for (size_t i = begin; i < end; i += kLanes) {
        _mm512_storeu_ps(grad + i, _mm512_fmsub_ps(_mm512_loadu_ps(exp_store + i), inverse_sum,
                                                   _mm512_loadu_ps(labels + i)));
      }
    } else {
      for (size_t i = begin; i < end; i += kLanes) {
        _mm512_storeu_ps(grad + i, gradient(i, all));
      }
    }
  };

  // Vectors start at `head` (0, or with streaming the count of elements before the first 64-byte boundary)
  // and cover [head, body_end). Masked stores write the head and the tail.
  const size_t alignment = streaming ? ElementsToAlignment(grad) : 0;
  const size_t head = alignment < classes ? alignment : classes;
  const size_t body_end = head + (classes - head) / kLanes * kLanes;
  if (head != 0) {
    if (streaming) {
      const __mmask16 mask = LastLanes(head);
      _mm512_mask_storeu_ps(VectorEndingAt(grad, head), mask, gradient_ending_at(head, mask));
    } else {
      _mm512_mask_storeu_ps(grad, FirstLanes(head), gradient(0, FirstLanes(head)));
    }
  }
  const size_t fixed = row.fixed_position;
  if (fixed >= head && fixed < body_end) {
    // The vector of the fixed position gets its value blended in, so that no ordinary store follows a
    // non-temporal one to the same line.
    const size_t fixed_vector = head + (fixed - head) / kLanes * kLanes;
    write_vectors(head, fixed_vector);
    const __m512 g = gradient(fixed_vector, static_cast<__mmask16>(0xFFFF));
    const __m512 blended = _mm512_mask_mov_ps(g, static_cast<__mmask16>(1u << (fixed - fixed_vector)),
                                              _mm512_set1_ps(row.fixed_value));
    if (streaming) {
      _mm512_stream_ps(grad + fixed_vector, blended);
    } else {
      _mm512_storeu_ps(grad + fixed_vector, blended);
    }
    write_vectors(fixed_vector + kLanes, body_end);
  } else {
    write_vectors(head, body_end);
  }
  if (body_end < classes) {
    const __mmask16 tail = FirstLanes(classes - body_end);
    _mm512_mask_storeu_ps(grad + body_end, tail, gradient(body_end, tail));
  }
  // The head and the tail are ordinary stores, to lines no non-temporal store touches.
  if (fixed < head || (fixed >= body_end && fixed < classes)) {
    grad[fixed] = row.fixed_value;
  }
}

// WriteGradient in pieces for streaming rows, whose e^(x - M) waits in scratch: XentExpPass spreads the
// non-temporal stores of the previous row's gradient over its own vectors, as SoftmaxExpPass does for softmax.
class GradientStreamer {
 public:
  void Start(const PendingGradient& row, size_t classes) {
    // Field by field: see PendingGradient.
    grad_ = row.grad;
    labels_ = row.labels;
    logits_ = row.logits;
    exp_store_ = row.exp_store;
    fixed_position_ = row.fixed_position;
    fixed_value_ = row.fixed_value;
    if (row.exp_store == nullptr) {
      const RowShift shift = MakeRowShift(row.max);
      magic_ = shift.magic;
      lower_ = shift.lower;
    }
    classes_ = classes;
    inverse_sum_ = _mm512_set1_ps(row.inverse_sum);
    const size_t alignment = ElementsToAlignment(row.grad);
    next_ = alignment < classes ? alignment : classes;
    body_end_ = next_ + (classes - next_) / kLanes * kLanes;
    if (next_ != 0) {
      // The head in the last lanes of a vector that ends at the first 64-byte boundary (see VectorEndingAt).
      const __mmask16 mask = LastLanes(next_);
      const __m512 e = Exponentials(exp_store_ != nullptr ? VectorEndingAt(exp_store_, next_) : nullptr,
                                    VectorEndingAt(logits_, next_), mask);
      __m512 g = _mm512_fmsub_ps(e, inverse_sum_, _mm512_maskz_loadu_ps(mask, VectorEndingAt(labels_, next_)));
      if (fixed_position_ < next_) {
        g = _mm512_mask_mov_ps(g, static_cast<__mmask16>(1u << (kLanes - next_ + fixed_position_)),
                               _mm512_set1_ps(fixed_value_));
      }
      _mm512_mask_storeu_ps(VectorEndingAt(grad_, next_), mask, g);
    }
  }

  bool active() const { return grad_ != nullptr; }

  // Writes up to `count` more whole vectors with non-temporal stores. The vector of the fixed position gets
  // its value blended in, so that no ordinary store follows a non-temporal one to the same line.
  SIMD_NN_ALWAYS_INLINE void Advance(size_t count) {
    if (grad_ == nullptr) {
      return;
    }
    // Locals, not members: the vector stores may alias the members, which would then be reloaded each time.
    const size_t end = body_end_ - next_ > count * kLanes ? next_ + count * kLanes : body_end_;
    const float* const exp_store = exp_store_;
    const float* const logits = logits_;
    const float* const labels = labels_;
    float* const grad = grad_;
    const size_t fixed_position = fixed_position_;
    const __m512 fixed_value = _mm512_set1_ps(fixed_value_);
    const __m512 inverse_sum = inverse_sum_;
    RowShift shift;
    shift.magic = magic_;
    shift.lower = lower_;
    const auto write = [&](size_t i, __m512 e) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      __m512 g = _mm512_fmsub_ps(e, inverse_sum, _mm512_loadu_ps(labels + i));
      if (fixed_position - i < kLanes) {
        g = _mm512_mask_mov_ps(g, static_cast<__mmask16>(1u << (fixed_position - i)), fixed_value);
      }
      _mm512_stream_ps(grad + i, g);
    };
    size_t i = next_;
    if (exp_store == nullptr) {
      for (; i < end; i += kLanes) {
        write(i, ExpShiftedFast(_mm512_loadu_ps(logits + i), shift));
      }
    } else {
      for (; i < end; i += kLanes) {
        write(i, _mm512_loadu_ps(exp_store + i));
      }
    }
    next_ = i;
  }

  // Writes the rest of the row and ends it.
  void Finish() {
    if (grad_ == nullptr) {
      return;
    }
    Advance(classes_);
    if (body_end_ < classes_) {
      const __mmask16 mask = FirstLanes(classes_ - body_end_);
      const __m512 e =
          Exponentials(exp_store_ != nullptr ? exp_store_ + body_end_ : nullptr, logits_ + body_end_, mask);
      __m512 g = _mm512_fmsub_ps(e, inverse_sum_, _mm512_maskz_loadu_ps(mask, labels_ + body_end_));
      if (fixed_position_ - body_end_ < kLanes) {
        g = _mm512_mask_mov_ps(g, static_cast<__mmask16>(1u << (fixed_position_ - body_end_)),
                               _mm512_set1_ps(fixed_value_));
      }
      _mm512_mask_storeu_ps(grad_ + body_end_, mask, g);
    }
    grad_ = nullptr;
  }

 private:
  // Returns e^(x - M) of the lanes in mask: loaded from exp_store, or computed again from the logits when it
  // is null.
  SIMD_NN_ALWAYS_INLINE __m512 Exponentials(const float* exp_store, const float* logits, __mmask16 mask) const {
    if (exp_store_ != nullptr) {
      return _mm512_maskz_loadu_ps(mask, exp_store);
    }
    RowShift shift;
    shift.magic = magic_;
    shift.lower = lower_;
    return ExpShiftedFast(_mm512_maskz_loadu_ps(mask, logits), shift);
  }

  float* grad_ = nullptr;  // null when no row is in progress
  const float* labels_ = nullptr;
  const float* logits_ = nullptr;     // read when exp_store_ is null
  const float* exp_store_ = nullptr;  // e^(x - M) from pass 2, or null
  size_t fixed_position_ = SIZE_MAX;
  float fixed_value_ = 0.0f;
  size_t classes_ = 0;
  size_t next_ = 0;
  size_t body_end_ = 0;
  __m512 magic_ = _mm512_setzero_ps();  // of the row's RowShift, when exp_store_ is null
  __m512 lower_ = _mm512_setzero_ps();
  __m512 inverse_sum_ = _mm512_setzero_ps();
};

// The label sums of a fast cross-entropy row, accumulated a group of kSumGroup vectors at a time by
// AccumulateLabels, in pass 2 or (see WriteGradientAndLabelSums) in pass 3.
//
// The label sum and the weighted shift are added in float32 within each group and in float64 across groups.
// With non-negative labels every term z (x - max) has the same sign, and each is at most the loss. The
// roundings of x - max, of the product and of the three levels of the sum tree then leave a relative error
// below 5 * 2^-24 in the weighted shift. The label sum keeps below 3 * 2^-24. Both are within the 8 ulp bound.
// Labels with the sign bit set would let the terms cancel, so such rows are flagged for the exact path, as are
// rows whose float32 sums overflow or turn NaN (infinite or NaN labels), whose limits the exact path handles.
struct LabelAccumulators {
  __m512d label_sum;
  __m512d weighted_shift;  // sum over labels z != 0 of z (x - max)
  __m512i label_bits;      // the OR of all labels, for their sign bits
};

SIMD_NN_ALWAYS_INLINE LabelAccumulators StartLabels() {
  return LabelAccumulators{_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_si512()};
}

// Loads the group of labels at z (lanes outside `masks` as 0).
template <bool kWhole>
SIMD_NN_ALWAYS_INLINE void LoadLabelGroup(const float* z, const __mmask16* masks, __m512* w) {
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; ++k) {
    w[k] = LoadGroupVector<kWhole>(z + k * kLanes, masks[k], _mm512_setzero_ps());
  }
}

// Adds a group of labels w (from LoadLabelGroup) and the logits at x (lanes outside `masks` read as 0) to the
// sums. A label of exactly 0 contributes nothing, even where x - max is -inf.
//
// With kSkipUnlabeled, a group whose labels are all +0 returns at once: it would add exactly +0 to every sum.
// With one-hot labels that is most groups, and the loss alone over 1000 classes ran 12-16% faster at 64K and
// 1M elements. Pass 3 does not skip: with labels in [0, 1), the branch made the loss with the gradient 7%
// slower there, against 6-7% faster with one-hot labels (AMD Zen 5, tools/ab.mjs).
template <bool kWhole, bool kSkipUnlabeled>
SIMD_NN_ALWAYS_INLINE void AccumulateLabels(const __m512* w, const float* x, __m512 max, const __mmask16* masks,
                                            LabelAccumulators* sums) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 products[kSumGroup / 2];
  const __m512i group_bits = _mm512_castps_si512(_mm512_or_ps(
      _mm512_or_ps(_mm512_or_ps(w[0], w[1]), _mm512_or_ps(w[2], w[3])),
      _mm512_or_ps(_mm512_or_ps(w[4], w[5]), _mm512_or_ps(w[6], w[7]))));
  if (kSkipUnlabeled && _mm512_test_epi32_mask(group_bits, group_bits) == 0) {
    return;
  }
  sums->label_bits = _mm512_or_si512(sums->label_bits, group_bits);
#pragma GCC unroll 8
  for (size_t k = 0; k < kSumGroup; k += 2) {
    const __m512 d0 = _mm512_sub_ps(LoadGroupVector<kWhole>(x + k * kLanes, masks[k], zero), max);
    const __m512 d1 = _mm512_sub_ps(LoadGroupVector<kWhole>(x + (k + 1) * kLanes, masks[k + 1], zero), max);
    const __mmask16 labeled0 = _mm512_cmp_ps_mask(w[k], zero, _CMP_NEQ_UQ);
    const __mmask16 labeled1 = _mm512_cmp_ps_mask(w[k + 1], zero, _CMP_NEQ_UQ);
    products[k / 2] = _mm512_mask3_fmadd_ps(w[k + 1], d1, _mm512_maskz_mul_ps(labeled0, w[k], d0), labeled1);
  }
  const __m512 group_shift =
      _mm512_add_ps(_mm512_add_ps(products[0], products[1]), _mm512_add_ps(products[2], products[3]));
  sums->weighted_shift = AddGroupToDouble(group_shift, sums->weighted_shift);
  sums->label_sum = AddGroupToDouble(SumOfGroup(w), sums->label_sum);
}

// The totals of a row's label sums.
struct LabelSums {
  double label_sum;
  double weighted_shift;
  bool need_exact;  // a label with its sign bit set, or a label sum or weighted shift that is not finite
};

SIMD_NN_ALWAYS_INLINE LabelSums FinishLabels(const LabelAccumulators& sums) {
  LabelSums totals;
  totals.label_sum = _mm512_reduce_add_pd(sums.label_sum);
  totals.weighted_shift = _mm512_reduce_add_pd(sums.weighted_shift);
  const bool negative_label = _mm512_test_epi32_mask(sums.label_bits, _mm512_set1_epi32(INT32_MIN)) != 0;
  totals.need_exact = negative_label || !__builtin_isfinite(totals.label_sum + totals.weighted_shift);
  return totals;
}

// Runs pass 3 of the fast cross-entropy path for a row whose e^(x - M) waits in scratch and whose gradient
// gets ordinary stores (in cache), with the row's label sums. Pass 2 then leaves the labels alone: it is
// bound by its arithmetic, while this pass waits on its stores and has room for the sums. Cross-entropy with
// the gradient over 1000 classes ran 5-6% faster at 64K and 1M elements than with the sums in pass 2 (AMD
// Zen 5, tools/ab.mjs). The sums are formed exactly as pass 2 would, in the same groups.
LabelSums WriteGradientAndLabelSums(const PendingGradient& row, size_t classes) {
  // Locals, not the fields of `row`: the compiler would reload those after every store to grad.
  float* const grad = row.grad;
  const float* const labels = row.labels;
  const float* const logits = row.logits;
  const float* const exp_store = row.exp_store;
  const __m512 inverse_sum = _mm512_set1_ps(row.inverse_sum);
  const __m512 max = _mm512_set1_ps(row.max);
  LabelAccumulators sums = StartLabels();
  const auto process_group = [&](size_t i, const __mmask16* masks, auto whole) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    constexpr bool kWhole = decltype(whole)::value;
    // Every load of the group comes before its stores. The compiler cannot prove that the stores miss those
    // memory locations, so it would not move a load above a store.
    __m512 w[kSumGroup];
    __m512 e[kSumGroup];
    LoadLabelGroup<kWhole>(labels + i, masks, w);
#pragma GCC unroll 8
    for (size_t k = 0; k < kSumGroup; ++k) {
      e[k] = LoadGroupVector<kWhole>(exp_store + i + k * kLanes, masks[k], _mm512_setzero_ps());
    }
    AccumulateLabels<kWhole, false>(w, logits + i, max, masks, &sums);
#pragma GCC unroll 8
    for (size_t k = 0; k < kSumGroup; ++k) {
      StoreGroupVector<kWhole>(grad + i + k * kLanes, masks[k], _mm512_fmsub_ps(e[k], inverse_sum, w[k]));
    }
  };

  __mmask16 masks[kSumGroup];
  GroupMasks(0, kSumGroup * kLanes, masks);
  size_t i = 0;
  for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
    process_group(i, masks, WholeGroup{});
  }
  if (i < classes) {
    GroupMasks(i, classes, masks);
    process_group(i, masks, PartialGroup{});
  }
  // Ordinary stores only, so the single maximum's value can simply overwrite its element.
  if (row.fixed_position < classes) {
    grad[row.fixed_position] = row.fixed_value;
  }
  return FinishLabels(sums);
}

// Sums of pass 2 of the fast cross-entropy path.
struct XentPassSums {
  double rest_shifted;  // sum of e^(x - M) over the entries below the maximum; NaN if the row has NaN
  double label_sum;        // these three as in LabelSums, and 0 and false unless pass 2 summed the labels
  double weighted_shift;
  bool labels_need_exact;
  size_t max_count;
  size_t max_position;
};

// The rows that pass 2 of the fast cross-entropy path prefetches, and in which order.
//
// Each group of kSumGroup vectors prefetches its span of both rows. Rows without a gradient issue the span's
// logits lines and then its labels lines (`by_array`). Rows with a gradient alternate line by line. Both builds
// were timed in one process on the same arrays (AMD Zen 5), for the loss over 1000 classes at 16M elements.
// With the labels about a multiple of 64 MiB after the logits in one buffer, it ran at 1.30x-1.38x a copy by
// array against 1.66x-1.80x alternating. Elsewhere it ran at 1.08x-1.12x against 1.13x-1.18x. With the
// gradient, by array ran no faster.
// NOTE: why it helps is not known. GCC 12 spreads these prefetches among register moves. A build that issued
// the same prefetches back to back gained about half as much, so the gain may hang on code generation.
struct XentPrefetch {
  const float* logits;  // null when the row prefetches nothing
  const float* labels;
  bool by_array;
};

// Pass 2 of the fast cross-entropy path. Stores e^(x - M) in exp_store when that is not null, finds the
// position of a single maximum when find_max_position is set (the gradient needs it), and adds up the labels
// (see AccumulateLabels) when sum_labels is set. Entries equal to the maximum are counted apart and left out of
// the sum, so that the sum below the maximum (S') keeps its value for log1p when one class dominates. They are
// looked for in the groups from shift.max_first to shift.max_last. Along the way it accumulates the maximum of
// a row ahead (noting its groups with kFindMaxGroups), issues `prefetch` and, unless previous_row is null,
// writes the previous row's streamed gradient a vector per vector of this row.
//
// Unless it is null, written_next is the gradient row that the caller writes with ordinary stores right after
// this pass (the previous row's), and the pass prefetches its lines for writing. Its stores then find the
// lines in L1, owned: cross-entropy with the gradient over 1000 classes ran 3-5% faster at 64K and 1M
// elements (AMD Zen 5, the mean of six runs of tools/ab.mjs).
template <bool kFindMaxGroups>
XentPassSums XentExpPass(const float* z, const float* x, float* exp_store, bool find_max_position, bool sum_labels,
                         size_t classes, float max, const RowShift& shift, NextRowMax* next,
                         const XentPrefetch& prefetch, GradientStreamer* previous_row, float* written_next) {
  const __m512 m = _mm512_set1_ps(max);
  // One float64 accumulator per sum. With two per sum (low and high halves), the group loop ran short of
  // registers and the compiler kept the accumulators on the stack.
  __m512d rest = _mm512_setzero_pd();
  LabelAccumulators label_sums = StartLabels();
  XentPassSums sums{0.0, 0.0, 0.0, false, 0, 0};

  // The count of entries equal to the maximum, and the offset of the last group with one.
  size_t max_count = 0;
  size_t last_max_group = 0;

  // The logits are read again after the exponentials through this copy of x, from L1. Keeping them in
  // registers through the exponentials spilled them to the stack, which costs more.
  const float* const logits_again = OpaqueCopy(x);
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());

  // Lanes past the row load as -inf (logits) and 0 (labels), which contribute nothing.
  const auto process_group = [&](size_t i, const __mmask16* masks, size_t count, auto whole)
                                 SIMD_NN_LAMBDA_ALWAYS_INLINE {
    constexpr bool kWhole = decltype(whole)::value;
    __m512 e[kSumGroup];
#pragma GCC unroll 8
    for (size_t k = 0; k < kSumGroup; ++k) {
      e[k] = LoadGroupVector<kWhole>(x + i + k * kLanes, masks[k], minus_inf);
    }
    // Without the groups of the maximum (rows with a gradient), any group may contain an entry at the maximum.
    // Such rows compare the logits while they are in registers, and load them again only for the rare group
    // that has one. Cross-entropy with the gradient over 1000 classes ran 3% faster at 64K elements (AMD Zen 5,
    // tools/row-timing.cpp).
    // With the groups, the few groups in range compare after the exponentials, because the loss alone ran
    // about 1% slower with the comparisons kept across the exponentials.
    const bool in_max_range = i >= shift.max_first && i <= shift.max_last;
    __mmask16 any_max = 0;
    if (!kFindMaxGroups && in_max_range) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        any_max = static_cast<__mmask16>(any_max | _mm512_cmp_ps_mask(e[k], m, _CMP_EQ_OQ));
      }
    }
    ExpShiftedFastGroup(e, shift);
    if (exp_store != nullptr) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        StoreGroupVector<kWhole>(exp_store + i + k * kLanes, masks[k], e[k]);
      }
    }

    // The entries equal to the maximum are counted and left out of the sum, in the groups that may contain
    // them. Most rows have them in one group, so the other groups of the range only compare.
    if (in_max_range) {
      __mmask16 at_max[kSumGroup];
      if constexpr (kFindMaxGroups) {
#pragma GCC unroll 8
        for (size_t k = 0; k < kSumGroup; ++k) {
          at_max[k] = _mm512_cmp_ps_mask(LoadGroupVector<kWhole>(logits_again + i + k * kLanes, masks[k], minus_inf),
                                         m, _CMP_EQ_OQ);
          any_max = static_cast<__mmask16>(any_max | at_max[k]);
        }
      }
      if (__builtin_expect(any_max != 0, 0)) {
        if constexpr (!kFindMaxGroups) {
#pragma GCC unroll 8
          for (size_t k = 0; k < kSumGroup; ++k) {
            at_max[k] = _mm512_cmp_ps_mask(
                LoadGroupVector<kWhole>(logits_again + i + k * kLanes, masks[k], minus_inf), m, _CMP_EQ_OQ);
          }
        }
        __m512i counts = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (size_t k = 0; k < kSumGroup; ++k) {
          counts = CountLanes(at_max[k], counts);
          e[k] = _mm512_maskz_mov_ps(static_cast<__mmask16>(~at_max[k]), e[k]);
        }
        max_count += static_cast<size_t>(_mm512_reduce_add_epi32(counts));
        last_max_group = i;
      }
    }

    rest = AddGroupToDouble(SumOfGroup(e), rest);

    if (sum_labels) {
      __m512 w[kSumGroup];
      LoadLabelGroup<kWhole>(z + i, masks, w);
      AccumulateLabels<kWhole, true>(w, logits_again + i, m, masks, &label_sums);
    }

    if (kFindMaxGroups) {
      AddGroupToNextRowMaxWithGroups<kWhole>(next, i, masks);
    } else {
      AddGroupToNextRowMax<kWhole>(next, i, masks);
    }
    if (prefetch.logits != nullptr && prefetch.by_array) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        PrefetchRow(prefetch.logits, i + k * kLanes);
      }
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        PrefetchRow(prefetch.labels, i + k * kLanes);
      }
    } else if (prefetch.logits != nullptr) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        PrefetchRow(prefetch.logits, i + k * kLanes);
        PrefetchRow(prefetch.labels, i + k * kLanes);
      }
    }
    if (previous_row != nullptr) {
      previous_row->Advance(count);
    }
    if (written_next != nullptr) {
#pragma GCC unroll 8
      for (size_t k = 0; k < kSumGroup; ++k) {
        PrefetchRowForWriting(written_next, i + k * kLanes);
      }
    }
  };

  __mmask16 masks[kSumGroup];
  GroupMasks(0, kSumGroup * kLanes, masks);
  size_t i = 0;
  for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
    process_group(i, masks, kSumGroup, WholeGroup{});
  }
  if (i < classes) {
    process_group(i, masks, GroupMasks(i, classes, masks), PartialGroup{});
  }

  sums.max_count = max_count;
  if (sums.max_count == 1 && find_max_position) {
    // The single maximum lies in the last group that had one.
    GroupMasks(last_max_group, classes, masks);
    for (size_t k = 0; k < kSumGroup; ++k) {
      const __m512 v = _mm512_maskz_loadu_ps(masks[k], x + last_max_group + k * kLanes);
      const unsigned at_max = _mm512_mask_cmp_ps_mask(masks[k], v, m, _CMP_EQ_OQ);
      if (at_max != 0) {
        sums.max_position = last_max_group + k * kLanes + static_cast<size_t>(__builtin_ctz(at_max));
      }
    }
  }
  sums.rest_shifted = _mm512_reduce_add_pd(rest);
  if (sum_labels) {
    const LabelSums totals = FinishLabels(label_sums);
    sums.label_sum = totals.label_sum;
    sums.weighted_shift = totals.weighted_shift;
    sums.labels_need_exact = totals.need_exact;
  }
  return sums;
}

// Returns label_sum * log S - weighted_shift. Where log S is 0 and the label sum infinite, that product is
// inf * 0 = NaN, while the scalar set sums the terms z (log S - s): the infinite labels below the maximum give
// infinite terms, already in weighted_shift, and only those at the maximum give inf * 0. The loss is then
// label_at_max * log S - weighted_shift.
SIMD_NN_ALWAYS_INLINE __m512d LossFromStats(__m512d label_sum, __m512d log_sum, __m512d weighted_shift,
                                            __m512d label_at_max) {
  const __m512d loss = _mm512_fmsub_pd(label_sum, log_sum, weighted_shift);
  const __mmask8 infinite_labels =
      _mm512_cmp_pd_mask(_mm512_abs_pd(label_sum), _mm512_set1_pd(__builtin_inf()), _CMP_EQ_OQ);
  const __mmask8 zero_log = _mm512_cmp_pd_mask(log_sum, _mm512_setzero_pd(), _CMP_EQ_OQ);
  const __m512d limit = _mm512_fmsub_pd(label_at_max, log_sum, weighted_shift);
  return _mm512_mask_mov_pd(loss, infinite_labels & zero_log, limit);
}

// Writes the losses of up to 8 rows from their statistics.
void StoreLosses(const XentRowStats* stats, size_t count, float* loss) {
  double argument[8];
  double label_sum[8];
  double weighted_shift[8];
  double label_at_max[8];
  for (size_t r = 0; r < count; ++r) {
    argument[r] = stats[r].log1p_argument;
    label_sum[r] = stats[r].label_sum;
    weighted_shift[r] = stats[r].weighted_shift;
    label_at_max[r] = stats[r].label_at_max;
  }
  const __mmask8 mask = static_cast<__mmask8>((1u << count) - 1u);
  const __m512d log_sum = Log1pPd(_mm512_maskz_loadu_pd(mask, argument));
  const __m512d row_loss =
      LossFromStats(_mm512_maskz_loadu_pd(mask, label_sum), log_sum, _mm512_maskz_loadu_pd(mask, weighted_shift),
                    _mm512_maskz_loadu_pd(mask, label_at_max));
  _mm256_mask_storeu_ps(loss, mask, _mm512_cvtpd_ps(row_loss));
}

// The fast cross-entropy of all rows, pipelined like SoftmaxRowsFast: the pass over row r finds row r + 2's
// maximum, and row r - 1's gradient is written during it (streaming) or right after it. Rows the fast path
// cannot take go through XentRowExact. Those are rows with a maximum that is NaN, infinite or beyond
// kMaxFastRowMax, and rows whose sum below the maximum comes out under kMinFastRestSum. The latter are found
// after pass 2, which leaves the logits intact for the exact path because e^(x - M) never goes into a gradient
// row that is the logits. A NaN entry that the maximum missed makes the sums NaN, and the row then gets NaN
// statistics and a NaN gradient.
//
// With ordinary stores, e^(x - M) waits for pass 3 in scratch, which has room for the two rows in flight. Pass 2
// then leaves the lines of backprop alone, and pass 3 writes each of them once: about 5% faster than keeping
// e^(x - M) in backprop at 64K elements and 1000 classes (AMD Zen 5, A/B timing). Rows longer than
// kScratchFloats (no scratch) keep it in backprop itself, unless backprop is exactly the logits (a fallback to
// the exact path still needs them). With non-temporal stores (`streaming`), pass 3 computes it again from the
// logits, as softmax does (see SoftmaxRowsFast): 4-6% faster at 16M elements than keeping it in scratch.
void XentRowsFast(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                  size_t classes, float* scratch, bool streaming) {
  const bool prefetch_rows = PrefetchesRows(rows * classes);
  const double nan = __builtin_nan("");
  XentRowStats stats[8];
  // Rows complete in order. A row whose labels pass 3 adds up completes when its gradient is written, during
  // the next row. The others complete in their own step. Losses are written 8 rows at a time.
  const auto complete_row = [&](size_t r) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    if (r % 8 == 7 || r + 1 == rows) {
      StoreLosses(stats, r % 8 + 1, loss + (r - r % 8));
    }
  };
  // The previous row's gradient: written whole by WriteGradient or WriteGradientAndLabelSums, or with
  // streaming spread over the next row's pass 2 by `streamer`.
  PendingGradient pending{};
  GradientStreamer streamer;
  const auto flush_pending = [&]() SIMD_NN_LAMBDA_ALWAYS_INLINE {
    streamer.Finish();
    if (pending.grad == nullptr) {
      return;
    }
    if (pending.sums_labels) {
      const LabelSums sums = WriteGradientAndLabelSums(pending, classes);
      XentRowStats& row_stats = stats[pending.row % 8];
      if (sums.need_exact) {
        // The gradient goes to other memory than the logits (see sums_labels), which are still intact.
        row_stats = XentRowExact(pending.labels, pending.logits, pending.grad, classes, nullptr);
      } else {
        row_stats.label_sum = sums.label_sum;
        row_stats.weighted_shift = sums.weighted_shift;
        row_stats.label_at_max = 0.0;
      }
      complete_row(pending.row);
    } else {
      WriteGradient(pending, classes, streaming);
    }
    pending.grad = nullptr;
  };

  RowShift shift = MakeRowShift(RowMax(logits, classes));
  RowShift next_shift = rows > 1 ? MakeRowShift(RowMax(logits + classes, classes)) : shift;
  for (size_t r = 0; r < rows; ++r) {
    const size_t offset = r * classes;
    const float* z = labels + offset;
    const float* x = logits + offset;
    float* grad = backprop != nullptr ? backprop + offset : nullptr;
    XentRowStats& row_stats = stats[r % 8];
    NextRowMax ahead = StartNextRowMax(r + 2 < rows ? x + 2 * classes : nullptr, classes);
    float ahead_max = 0.0f;
    size_t ahead_first = 0;
    size_t ahead_last = SIZE_MAX;

    bool exact = !shift.fast;
    bool completes_later = false;
    if (!exact) {
      float* exp_store = nullptr;
      if (grad != nullptr && !streaming && scratch != nullptr) {
        exp_store = scratch + (r % 2) * kScratchFloats;
      } else if (grad != nullptr && !streaming && grad != x) {
        exp_store = grad;
      }
      // Pass 3 adds up the labels when it reads e^(x - M) from scratch with ordinary stores, and the gradient
      // is not the logits: a row whose labels then call for the exact path reads them again.
      const bool labels_in_pass3 = exp_store != nullptr && exp_store != grad && !streaming && grad != x;
      XentPrefetch prefetch{nullptr, nullptr, grad == nullptr};
      if (prefetch_rows && r + kPrefetchRows < rows) {
        prefetch.logits = logits + offset + kPrefetchRows * classes;
        prefetch.labels = labels + offset + kPrefetchRows * classes;
      }
      // Two instances of XentExpPass, so that neither tests kFindMaxGroups at run time.
      const XentPassSums sums =
          backprop == nullptr
              ? XentExpPass<true>(z, x, exp_store, false, true, classes, shift.max, shift, &ahead, prefetch, nullptr,
                                  nullptr)
              : XentExpPass<false>(z, x, exp_store, true, !labels_in_pass3, classes, shift.max, shift, &ahead,
                                   prefetch, streaming ? &streamer : nullptr, pending.grad);
      flush_pending();
      if (ahead.row != nullptr && backprop == nullptr) {
        ahead_max = FinishNextRowMaxWithGroups(ahead, &ahead_first, &ahead_last);
      } else if (ahead.row != nullptr) {
        ahead_max = FinishNextRowMax(ahead);
      }

      // S' = 2^-32 e^(-R) * (the sum of 2^32 e^(x - M) below the maximum).
      const double rest = sums.rest_shifted * RowSumUnscale(shift.reduced);
      if (rest != rest) {
        row_stats = XentRowStats{nan, nan, nan};
        if (grad != nullptr) {
          FillNaN(grad, classes);
        }
      } else if (rest < kMinFastRestSum || sums.labels_need_exact) {
        exact = true;
      } else {
        row_stats.log1p_argument = static_cast<double>(sums.max_count - 1) + rest;
        row_stats.label_sum = sums.label_sum;
        row_stats.weighted_shift = sums.weighted_shift;
        row_stats.label_at_max = 0.0;
        if (grad != nullptr) {
          // S_M = 2^32 e^R S = 2^32 e^R (max_count + S'), in the scale of the stored exponentials.
          const double shifted_sum =
              static_cast<double>(sums.max_count) / RowSumUnscale(shift.reduced) + sums.rest_shifted;
          pending = PendingGradient{grad, z, x, exp_store, shift.max, static_cast<float>(1.0 / shifted_sum),
                                    SIZE_MAX, 0.0f, r, labels_in_pass3};
          completes_later = labels_in_pass3;
          // A single maximum: p - z = 1 / (1 + S') - z is computed as ((1 - z) - z S') / S, which keeps the
          // tiny gradient of a dominant class instead of cancelling 1 / S against z.
          if (sums.max_count == 1) {
            const double label = z[sums.max_position];
            pending.fixed_position = sums.max_position;
            pending.fixed_value = static_cast<float>(((1.0 - label) - label * rest) / (1.0 + rest));
          }
          if (streaming) {
            streamer.Start(pending, classes);
            pending.grad = nullptr;
          }
        }
      }
    } else {
      flush_pending();
      if (ahead.row != nullptr) {
        ahead_max = RowMax(ahead.row, classes);
      }
    }
    shift = next_shift;
    if (ahead.row != nullptr) {
      next_shift = MakeRowShift(ahead_max);
      next_shift.max_first = ahead_first;
      next_shift.max_last = ahead_last;
    }
    if (exact) {
      row_stats = XentRowExact(z, x, grad, classes, streaming ? scratch : nullptr);
    }
    if (!completes_later) {
      complete_row(r);
    }
  }
  flush_pending();
}

// Cross-entropy of all rows through XentRowExact, for rows too short for the fast path to pay off. Such rows
// are written with ordinary stores (see kMinStreamingClasses), so no row needs a scratch row.
void XentRowsExact(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                   size_t classes) {
  XentRowStats stats[8];
  for (size_t r0 = 0; r0 < rows; r0 += 8) {
    const size_t count = rows - r0 < 8 ? rows - r0 : 8;
    for (size_t r = 0; r < count; ++r) {
      const size_t offset = (r0 + r) * classes;
      stats[r] = XentRowExact(labels + offset, logits + offset, backprop != nullptr ? backprop + offset : nullptr,
                              classes, nullptr);
    }
    StoreLosses(stats, count, loss + r0);
  }
}

// Returns log S = log1p((max_count - 1) + S') of each lane, from the lane statistics.
SIMD_NN_ALWAYS_INLINE __m512d LaneLogSum(__m512d max_count, __m512d rest) {
  return Log1pPd(_mm512_add_pd(_mm512_sub_pd(max_count, _mm512_set1_pd(1.0)), rest));
}

// Cross-entropy of rows of up to 16 classes (up to kMaxWideLanesClasses with kWide, their columns transposed
// 16 at a time), 16 rows at a time with one row per lane. The gradient is written when kWithGradient is set
// (backprop not null). A run-time test would keep e^(x - max) of every column for the gradient in the
// loss-only case too, which made it about 20% slower (AMD Zen 5). Both instances stay out of line: inlined
// into SoftmaxXentRows, the loss alone ran about 7% slower.
// The loop of XentLanes. Returns whether a label has its sign bit set (-0 included), for
// XentLanesWithExactSums, which computes again the losses of rows with a negative label.
template <bool kWithGradient, bool kWide>
__attribute__((noinline)) bool XentLanesLoop(const float* labels, const float* logits, float* loss, float* backprop,
                                         size_t rows, size_t classes) {
  constexpr size_t kMaxColumns = kWide ? kMaxWideLanesClasses : kLanes;
  const __m512 one = _mm512_set1_ps(1.0f);
  // Lane-order columns of the group (see LoadColumns) and e^(x - max) of each.
  __m512 columns[kMaxColumns];
  __m512 label_columns[kMaxColumns];
  __m512 exps[kMaxColumns];
  const bool prefetch = PrefetchesRows(rows * classes);
  __mmask16 negative_lanes = 0;

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const __mmask16 active = ChunkMask(0, group_rows);
    const float* gx = logits + r0 * classes;
    const float* gz = labels + r0 * classes;
    const size_t ahead = r0 + kPrefetchGroups * kLanes;
    if (prefetch && ahead + kLanes <= rows) {
      PrefetchSpan(logits + ahead * classes, kLanes * classes, false);
      PrefetchSpan(labels + ahead * classes, kLanes * classes, false);
      if constexpr (kWithGradient) {
        PrefetchSpan(backprop + ahead * classes, kLanes * classes, true);
      }
    }

    if constexpr (kWide) {
      for (size_t first = 0; first < classes; first += kLanes) {
        LoadColumnChunk(gx, group_rows, classes, first, columns + first);
        LoadColumnChunk(gz, group_rows, classes, first, label_columns + first);
      }
    } else {
      LoadColumns(gx, group_rows, classes, columns);
      LoadColumns(gz, group_rows, classes, label_columns);
    }
    const LaneGroup group = ReduceColumns(columns, classes);
    const __m512d max_low = LowToDouble(group.max);
    const __m512d max_high = HighToDouble(group.max);

    __m512 max_count = _mm512_setzero_ps();
    __m512d rest_low = _mm512_setzero_pd();
    __m512d rest_high = _mm512_setzero_pd();
    __m512d shift_low = _mm512_setzero_pd();
    __m512d shift_high = _mm512_setzero_pd();
    __m512d label_low = _mm512_setzero_pd();
    __m512d label_high = _mm512_setzero_pd();
    __m512i label_signs = _mm512_setzero_si512();
    for (size_t j = 0; j < classes; ++j) {
      const __m512 v = columns[j];
      const __m512 w = label_columns[j];
      label_signs = _mm512_or_si512(label_signs, _mm512_castps_si512(w));
      const __m512 e = ExpShifted(v, group.max, group.neg_max);
      if constexpr (kWithGradient) {
        exps[j] = e;
      }
      const __mmask16 at_max = _mm512_cmp_ps_mask(v, group.max, _CMP_EQ_OQ);
      max_count = _mm512_mask_add_ps(max_count, at_max, max_count, one);
      rest_low = _mm512_mask_add_pd(rest_low, static_cast<__mmask8>(~at_max), rest_low, LowToDouble(e));
      rest_high = _mm512_mask_add_pd(rest_high, static_cast<__mmask8>(~at_max >> 8), rest_high, HighToDouble(e));

      // Terms at the maximum are left out of the weighted shift, as in XentRowExact.
      const __mmask16 labeled = _mm512_cmp_ps_mask(w, _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __mmask16 shifted = static_cast<__mmask16>(labeled & ~at_max);
      const __m512d w_low = LowToDouble(w);
      const __m512d w_high = HighToDouble(w);
      shift_low = _mm512_mask3_fmadd_pd(w_low, _mm512_sub_pd(LowToDouble(v), max_low), shift_low,
                                        static_cast<__mmask8>(shifted));
      shift_high = _mm512_mask3_fmadd_pd(w_high, _mm512_sub_pd(HighToDouble(v), max_high), shift_high,
                                         static_cast<__mmask8>(shifted >> 8));
      label_low = _mm512_add_pd(label_low, w_low);
      label_high = _mm512_add_pd(label_high, w_high);
    }
    negative_lanes = static_cast<__mmask16>(
        negative_lanes | (_mm512_test_epi32_mask(label_signs, _mm512_set1_epi32(INT32_MIN)) & active));
    // Rows whose S' is this small add it up again in float64, as XentRowExact does. Its terms are then subnormal
    // floats, each rounded on its own by up to 2^-150. With 15 of them, that reaches 7.5 ulp of a loss just
    // above 2^-126 (5.8 ulp measured at 16 classes without this pass).
    const __m512d threshold = _mm512_set1_pd(static_cast<double>(classes) * kSubnormalTermsSum);
    const __mmask8 tiny_low = _mm512_cmp_pd_mask(rest_low, threshold, _CMP_LT_OQ);
    const __mmask8 tiny_high = _mm512_cmp_pd_mask(rest_high, threshold, _CMP_LT_OQ);
    // Only the group's rows count. The zeros loaded past the last row are all at their maximum, so their S'
    // is 0. Counted, they sent every partial group through this pass: one row of 16 classes took 174 ns, and
    // takes 119 without it.
    if (((tiny_low | (static_cast<unsigned>(tiny_high) << 8)) & active) != 0) {
      __m512d exact_low = _mm512_setzero_pd();
      __m512d exact_high = _mm512_setzero_pd();
      __mmask16 finite_below = 0;
      for (size_t j = 0; j < classes; ++j) {
        const __mmask16 below_max = _mm512_cmp_ps_mask(columns[j], group.max, _CMP_NEQ_OQ);
        finite_below = static_cast<__mmask16>(
            finite_below |
            _mm512_mask_cmp_ps_mask(below_max, columns[j], _mm512_set1_ps(-__builtin_inff()), _CMP_NEQ_OQ));
        __m512d term_low;
        __m512d term_high;
        ExpShiftedInDouble(columns[j], group.max, group.neg_max, below_max, &term_low, &term_high);
        exact_low = _mm512_add_pd(exact_low, term_low);
        exact_high = _mm512_add_pd(exact_high, term_high);
      }
      // As in RestSumInDouble, a finite entry below the maximum keeps S' positive.
      const __m512d underflowed = _mm512_set1_pd(kUnderflowedRestSum);
      const __mmask8 zero_low = _mm512_cmp_pd_mask(exact_low, _mm512_setzero_pd(), _CMP_EQ_OQ);
      const __mmask8 zero_high = _mm512_cmp_pd_mask(exact_high, _mm512_setzero_pd(), _CMP_EQ_OQ);
      exact_low = _mm512_mask_mov_pd(exact_low, static_cast<__mmask8>(zero_low & finite_below), underflowed);
      exact_high = _mm512_mask_mov_pd(exact_high, static_cast<__mmask8>(zero_high & (finite_below >> 8)), underflowed);
      rest_low = _mm512_mask_mov_pd(rest_low, tiny_low, exact_low);
      rest_high = _mm512_mask_mov_pd(rest_high, tiny_high, exact_high);
    }

    const __m512d count_low = LowToDouble(max_count);
    const __m512d count_high = HighToDouble(max_count);
    const __m512d log_low = LaneLogSum(count_low, rest_low);
    const __m512d log_high = LaneLogSum(count_high, rest_high);
    __m512d loss_low = _mm512_fmsub_pd(label_low, log_low, shift_low);
    __m512d loss_high = _mm512_fmsub_pd(label_high, log_high, shift_high);
    // Where a label sum is infinite, the loss needs the labels at each row's maximum (see LossFromStats). The
    // common path stays as it is: with LossFromStats on every group, 10-class rows ran 17% slower at 16M
    // elements (tools/ab.mjs).
    const __m512d inf = _mm512_set1_pd(__builtin_inf());
    if ((_mm512_cmp_pd_mask(_mm512_abs_pd(label_low), inf, _CMP_EQ_OQ) |
         _mm512_cmp_pd_mask(_mm512_abs_pd(label_high), inf, _CMP_EQ_OQ)) != 0) {
      __m512d at_max_low = _mm512_setzero_pd();
      __m512d at_max_high = _mm512_setzero_pd();
      for (size_t j = 0; j < classes; ++j) {
        const __mmask16 at_max = _mm512_cmp_ps_mask(columns[j], group.max, _CMP_EQ_OQ);
        const __m512 labels_at_max = _mm512_maskz_mov_ps(at_max, label_columns[j]);
        at_max_low = _mm512_add_pd(at_max_low, LowToDouble(labels_at_max));
        at_max_high = _mm512_add_pd(at_max_high, HighToDouble(labels_at_max));
      }
      loss_low = LossFromStats(label_low, log_low, shift_low, at_max_low);
      loss_high = LossFromStats(label_high, log_high, shift_high, at_max_high);
    }
    __m512 group_loss = JoinToFloat(loss_low, loss_high);
    group_loss = _mm512_mask_mov_ps(group_loss, group.invalid, _mm512_set1_ps(__builtin_nanf("")));
    _mm512_mask_storeu_ps(loss + r0, active, group_loss);
    if constexpr (!kWithGradient) {
      continue;
    }

    const __m512d one_double = _mm512_set1_pd(1.0);
    const __m512 inverse_sum = JoinToFloat(_mm512_div_pd(one_double, _mm512_add_pd(count_low, rest_low)),
                                           _mm512_div_pd(one_double, _mm512_add_pd(count_high, rest_high)));
    // A single maximum: ((1 - z) - z S') / S, as in XentRowExact, computed as (1 - z) / S - z (S' / S), whose two
    // products stay below |z|: (1 - z) - z S' overflowed for z near 3e38 and S' above 0.13.
    const __m512 rest_share = _mm512_mul_ps(JoinToFloat(rest_low, rest_high), inverse_sum);
    const __mmask16 single = _mm512_cmp_ps_mask(max_count, one, _CMP_EQ_OQ);
    const __m512 nan = _mm512_set1_ps(__builtin_nanf(""));
    // Columns past the row are 0: the transpose in StoreColumns reads them, though no store writes them.
    __m512 gradient[kMaxColumns];
    const size_t padded_columns = kWide ? (classes + kLanes - 1) / kLanes * kLanes : kLanes;
#pragma GCC unroll 16
    for (size_t j = 0; j < padded_columns; ++j) {
      if (j >= classes) {
        gradient[j] = _mm512_setzero_ps();
        continue;
      }
      const __m512 v = columns[j];
      const __m512 w = label_columns[j];
      __m512 g = _mm512_fmsub_ps(exps[j], inverse_sum, w);
      const __mmask16 dominant = _mm512_mask_cmp_ps_mask(single, v, group.max, _CMP_EQ_OQ);
      __m512 fixed = _mm512_fnmadd_ps(w, rest_share, _mm512_mul_ps(_mm512_sub_ps(one, w), inverse_sum));
      // An infinite label gives -z: the limit where S' > 0, and 1 - z where S' = 0. The formula would take
      // inf * 0 = NaN where S' / S rounds to 0 or S' is 0 (S' may be kUnderflowedRestSum, 0 in float32).
      const __mmask16 infinite_label = _mm512_fpclass_ps_mask(w, 0x18);
      fixed = _mm512_mask_sub_ps(fixed, infinite_label, _mm512_setzero_ps(), w);
      g = _mm512_mask_mov_ps(g, dominant, fixed);
      // Rows without a softmax have a NaN maximum: their entries become NaN.
      gradient[j] = _mm512_mask_mov_ps(g, group.invalid, nan);
    }
    if constexpr (kWide) {
      for (size_t first = 0; first < classes; first += kLanes) {
        StoreColumnChunk(gradient + first, group_rows, classes, first, backprop + r0 * classes);
      }
    } else {
      StoreColumns(gradient, group_rows, classes, backprop + r0 * classes);
    }
  }
  return negative_lanes != 0;
}

// Returns the loss of one row through XentRowExact, whose label sums are exact where a label is negative.
float XentRowLoss(const float* labels, const float* logits, size_t classes) {
  const XentRowStats stats = XentRowExact(labels, logits, nullptr, classes, nullptr);
  float loss;
  StoreLosses(&stats, 1, &loss);
  return loss;
}

// Computes cross-entropy over rows of up to 16 classes (kMaxWideLanesClasses with kWide) with XentLanesLoop
// (see XentLanesWithExactSums).
template <bool kWithGradient, bool kWide>
__attribute__((noinline)) void XentLanes(const float* labels, const float* logits, float* loss, float* backprop,
                                         size_t rows, size_t classes) {
  XentLanesWithExactSums(XentLanesLoop<false, kWide>, XentLanesLoop<true, kWide>, XentRowLoss, labels, logits,
                         loss, kWithGradient ? backprop : nullptr, rows, classes);
}

// Runs the XentLanes instance with the gradient when backprop is not null, else the one without.
template <bool kWide>
void XentLanesWithOrWithoutGradient(const float* labels, const float* logits, float* loss, float* backprop,
                                    size_t rows, size_t classes) {
  if (backprop != nullptr) {
    XentLanes<true, kWide>(labels, logits, loss, backprop, rows, classes);
  } else {
    XentLanes<false, kWide>(labels, logits, loss, nullptr, rows, classes);
  }
}

}  // namespace

void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes) {
  if (classes == 0) {
    return;
  }
  if (classes <= kMaxLanesModeClasses) {
    SoftmaxSmallRows(x, y, rows, classes);
    return;
  }
  if (classes <= kMaxWideLanesClasses) {
    SoftmaxLanes(x, y, rows, classes);
    return;
  }
  alignas(64) float scratch[2 * kScratchFloats];
  const bool fits_scratch = classes <= kScratchFloats;
  const bool streaming = fits_scratch && classes >= kMinStreamingClasses &&
                         rows * classes * sizeof(float) >= StreamingThresholdBytes();
  SoftmaxRowsFast(x, y, rows, classes, fits_scratch ? scratch : nullptr, streaming);
  if (streaming) {
    _mm_sfence();
  }
}

void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes) {
  if (classes == 0) {
    return;
  }
  if (classes <= kMaxLanesModeClasses) {
    XentLanesWithOrWithoutGradient<false>(labels, logits, loss, backprop, rows, classes);
    return;
  }
  if (classes <= kMaxWideLanesClasses) {
    XentLanesWithOrWithoutGradient<true>(labels, logits, loss, backprop, rows, classes);
    return;
  }
  alignas(64) float scratch[2 * kScratchFloats];
  const bool fits_scratch = classes <= kScratchFloats;
  const bool streaming = backprop != nullptr && fits_scratch && classes >= kMinStreamingClasses &&
                         rows * classes * sizeof(float) >= StreamingThresholdBytes();
  const size_t min_fast_classes = backprop != nullptr ? kMinFastXentClassesWithGradient : kMinFastXentClasses;
  if (classes < min_fast_classes) {
    XentRowsExact(labels, logits, loss, backprop, rows, classes);
  } else {
    XentRowsFast(labels, logits, loss, backprop, rows, classes, fits_scratch ? scratch : nullptr, streaming);
  }
  if (streaming) {
    _mm_sfence();
  }
}

}  // namespace avx512
}  // namespace simd_nn
