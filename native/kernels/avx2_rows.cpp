// AVX2 row kernels: softmax and fused softmax cross-entropy over dense rows x classes matrices.
//
// The AVX-512 set's algorithms with 8 lanes, without its row pipeline. Rows of more than 24 classes (softmax)
// or 40 (cross-entropy) are vectorized within the row, in three passes. The first finds the maximum. The
// second computes e^(x - M) (see RowShift) and the sums, in float32 over groups of 4 vectors and then in
// float64. The third writes the output. The second and third passes re-read the row from cache, so each input
// row is read from memory once. Shorter rows are vectorized across rows instead: a group of 8 rows is loaded
// and transposed so that lane r is row r (LoadColumns), and the output goes back through the same transpose.
// On inputs too large for the cache, these groups prefetch the groups ahead. Long rows do not: prefetching
// row r + 1, 2 or 4 at the start of row r made the loss 10-40% slower at 16M elements (AMD Zen 5,
// tools/ab.mjs).
//
// Cross-entropy computes its exponentials times 2^32 (RowShift), so that the gradient of a tiny label keeps
// e^(x - max) / S below 2^-126 to about 1 ulp.
#include "avx2_math.h"
#include "exact_sums.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx2 {
namespace {

constexpr size_t kMaxLanesModeClasses = 16;

// Longer rows that are vectorized across rows too (the `kWide` instances), their columns transposed 8 at a
// time. Within the row, each row paid its reductions alone. At 64K elements (AMD Zen 5, tools/ab.mjs), softmax
// across rows took 0.56 to 0.73 of the time over 17 to 24 classes, and 1.08 over 32. The loss took 0.43 to
// 0.85 over 17 to 40 classes, and 0.94 to 1.06 over 48.
constexpr size_t kMaxWideSoftmaxLanesClasses = 24;
constexpr size_t kMaxWideXentLanesClasses = 40;
constexpr size_t kMaxWideLanesColumns = 40;

// Rows whose losses are finished together by one 4-lane log1p.
constexpr size_t kLossBatch = 4;

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

// Vectors of e^(x - M) that the long-row passes add up in float32 before widening the sum to float64: a tree
// of two levels, relative error below 2 * 2^-24. The conversions to float64 then cost a quarter as much.
constexpr size_t kSumGroup = 4;

SIMD_NN_ALWAYS_INLINE __m256 SumGroup(const __m256* e) {
  return _mm256_add_ps(_mm256_add_ps(e[0], e[1]), _mm256_add_ps(e[2], e[3]));
}

SIMD_NN_ALWAYS_INLINE float ReduceMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

void FillNaN(float* y, size_t n) {
  const __m256 nan = _mm256_set1_ps(__builtin_nanf(""));
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    _mm256_storeu_ps(y + i, nan);
  }
  if (i < n) {
    StoreFirstLanes(y + i, nan, n - i);
  }
}

// Finds the row maximum and, when z is not null, whether a label has its sign bit set. Returns false when the
// row has no softmax: a NaN entry, a +inf entry, or all -inf.
//
// Cross-entropy reads its labels here although it adds them up in the next pass: this pass does little
// arithmetic per element, so it streams both rows from memory at full bandwidth, and the next pass finds them
// in cache.
bool FindRowMax(const float* z, const float* x, size_t classes, float* max, bool* negative_label) {
  const __m256 minus_inf = _mm256_set1_ps(-__builtin_inff());
  __m256 max0 = minus_inf;
  __m256 max1 = minus_inf;
  __m256 label_bits = _mm256_setzero_ps();
  __m256 nan = _mm256_setzero_ps();

  size_t i = 0;
  for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
    __m256 v[kSumGroup];
#pragma GCC unroll 4
    for (size_t k = 0; k < kSumGroup; ++k) {
      v[k] = _mm256_loadu_ps(x + i + k * kLanes);
    }
    const __m256 unordered =
        _mm256_or_ps(_mm256_cmp_ps(v[0], v[1], _CMP_UNORD_Q), _mm256_cmp_ps(v[2], v[3], _CMP_UNORD_Q));
    nan = _mm256_or_ps(nan, unordered);
    max0 = _mm256_max_ps(max0, _mm256_max_ps(v[0], v[2]));
    max1 = _mm256_max_ps(max1, _mm256_max_ps(v[1], v[3]));
    if (z != nullptr) {
#pragma GCC unroll 4
      for (size_t k = 0; k < kSumGroup; ++k) {
        label_bits = _mm256_or_ps(label_bits, _mm256_loadu_ps(z + i + k * kLanes));
      }
    }
  }

  for (; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 v = _mm256_blendv_ps(minus_inf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    max0 = _mm256_max_ps(max0, v);
    if (z != nullptr) {
      label_bits = _mm256_or_ps(label_bits, _mm256_maskload_ps(z + i, mask));
    }
  }

  const float m = ReduceMax(_mm256_max_ps(max0, max1));
  *max = m;
  if (z != nullptr) {
    *negative_label = _mm256_movemask_ps(label_bits) != 0;
  }
  return _mm256_movemask_ps(nan) == 0 && m < __builtin_inff() && m > -__builtin_inff();
}

// ---------------------------------------------------------------------------------------------------------
// The row shift

// Rows whose maximum exceeds this magnitude use ExpShifted: ExpShiftedRow rounds x * 8/ln2 to an integer with
// kRoundingMagic, which works below 2^22.
constexpr float kMaxFastRowMax = 65536.0f;

// The shift of a row for ExpShiftedRow, as in the AVX-512 set.
//
// Softmax and cross-entropy are invariant under a common shift of the logits, and rows of more than 16 classes
// shift by M = N ln2/8, the multiple of ln2/8 nearest the row maximum m, instead of by m: e^(x - M) =
// 2^((n - N)/8) e^(x - n ln2/8) with n = round(8 x / ln2) is then the exponential of x itself, reduced exactly
// (Cody-Waite), with the table index and the power of two taken from n - N. Shifting by m needs the rounding
// error of the float32 difference x - m, recovered with TwoSum (ExpShifted, 9 more operations per vector).
// The sums come out scaled by e^(m - M) = e^R with |R| <= ln2/16, which softmax's quotient cancels and
// cross-entropy undoes in float64.
//
// ExpShiftedRow also multiplies by 2^32 (kScaledExpLog2), for the reason given at the AVX-512 set's
// kRowExpScaleLog2: the gradient of a tiny label needs e^(x - M) below 2^-126 to about 1 ulp. Quotients cancel
// the factor, and cross-entropy takes it out of S' (its exact path takes ExpShifted<true>, scaled alike).
struct RowShift {
  bool fast;       // whether ExpShiftedRow can take the row: m finite and within kMaxFastRowMax
  __m256 magic;    // rounding 8 x / ln2 with it leaves n - N + kBias in the bits (kBias = 1016 + 8 * 32)
  __m256 lower;    // M - kBias ln2/8 (about M - 110.2): x clamped to it gets n - N = -kBias, and e^(x - M) = 0
  double reduced;  // R = m - M, in [-ln2/16, ln2/16], or 0 when not fast
};

RowShift MakeRowShift(float max) {
  constexpr double kLn2Over8 = approx::kLn2 / 8.0;
  constexpr double kBias = 1016.0 + 8.0 * kScaledExpLog2;
  RowShift shift;
  // NaN fails the comparison too.
  shift.fast = __builtin_fabsf(max) <= kMaxFastRowMax;
  // The same product as in the vector code (8 log2(e) rounded to float32, times max), exact in float64, so
  // that n <= N for every x <= max.
  const double n_of_max =
      shift.fast ? __builtin_rint(static_cast<double>(max) * static_cast<double>(8.0f * approx::kLog2e)) : 0.0;
  shift.magic = _mm256_set1_ps(kRoundingMagicWithBias + 8.0f * kScaledExpLog2 - static_cast<float>(n_of_max));
  // Rounded to float32, lower is within 2^-8 of (N - kBias) ln2/8 (|M| <= kMaxFastRowMax), and 8 x / ln2 rounds
  // to N - kBias there. ExpShiftedRow then gives exactly 0, as softmax must for -inf entries.
  shift.lower = _mm256_set1_ps(static_cast<float>((n_of_max - kBias) * kLn2Over8));
  shift.reduced = shift.fast ? static_cast<double>(max) - n_of_max * kLn2Over8 : 0.0;
  return shift;
}

// Returns e^(-R) for |R| <= ln2/16 in float64: the Taylor series to R^9 leaves an error below 2^-60.
double ExpOfNegatedReduced(double reduced) {
  double sum = -1.0 / 362880.0;
  const double coefficients[9] = {1.0 / 40320.0, -1.0 / 5040.0, 1.0 / 720.0, -1.0 / 120.0, 1.0 / 24.0,
                                  -1.0 / 6.0,    0.5,           -1.0,        1.0};
  for (double c : coefficients) {
    sum = sum * reduced + c;
  }
  return sum;
}

// Returns e^(x - M) for x >= M - 87.3, within about 0.6 ulp (its exponential measured 0.58 ulp on every 7th
// float32 in [-87.3, 0]), and 0 for smaller x (-inf included), for the rows of up to 16 classes
// (SoftmaxLanes). Their shift comes as two vectors, magic and lower (M - 87.9), which may differ by lane.
// Longer rows take ExpShiftedRow, which takes fewer operations and is off by up to 1 ulp.
SIMD_NN_ALWAYS_INLINE __m256 ExpShiftedFast(__m256 x, __m256 magic, __m256 lower) {
  const __m256 clamped = _mm256_max_ps(lower, x);
  const __m256 biased_n = _mm256_fmadd_ps(clamped, _mm256_set1_ps(8.0f * approx::kLog2e), magic);
  const __m256 n = _mm256_sub_ps(biased_n, magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Hi / 8.0f), clamped);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r);

  return ExpFlushingSubnormals(biased_n, r);
}

// Returns 2^32 e^(x - M) for the rows of more than 16 classes: within about 1 ulp for x >= M - 109.4, a value
// below 2^-126 for smaller x, and exactly 0 for x <= shift.lower (-inf included). x is never NaN here.
//
// As in the AVX-512 set's ExpScaledHighTable, 2^k T_high is put together in the integers
// (kExp2Table8HighBitsLessIndex), and the low table part is left out. The result is then off by up to 1 ulp
// instead of 0.6, which the 8 ulp bound of the row functions affords. Against ExpShiftedFast it saves a
// permute, an addition, a multiplication and the power of two. For n - N + kBias in [0, 8) (biased exponent 0)
// the sum lands in the subnormal encodings: exactly 0 for j = 0 and below 2^-126 otherwise.
SIMD_NN_ALWAYS_INLINE __m256 ExpShiftedRow(__m256 x, const RowShift& shift) {
  const __m256 clamped = _mm256_max_ps(shift.lower, x);
  const __m256 biased_n = _mm256_fmadd_ps(clamped, _mm256_set1_ps(8.0f * approx::kLog2e), shift.magic);
  const __m256 n = _mm256_sub_ps(biased_n, shift.magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Hi / 8.0f), clamped);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(approx::kLn2Lo / 8.0f), r);

  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(approx::kExp8Poly2), r, _mm256_set1_ps(approx::kExp8Poly1));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(approx::kExp8Poly0));
  const __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r);
  const __m256i index = _mm256_castps_si256(biased_n);
  const __m256i table_bits = _mm256_permutevar8x32_epi32(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(approx::kExp2Table8HighBitsLessIndex)), index);
  const __m256 scaled_table = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(index, 20), table_bits));
  return _mm256_fmadd_ps(scaled_table, s, scaled_table);
}

// Loads the last, partial vector of a row with -inf in the lanes past its end, whose e^(x - M) is then 0.
SIMD_NN_ALWAYS_INLINE __m256 LoadRowTail(const float* x, __m256i mask) {
  return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), _mm256_maskload_ps(x, mask), _mm256_castsi256_ps(mask));
}

// ---------------------------------------------------------------------------------------------------------
// Softmax

void SoftmaxRow(const float* x, float* y, size_t classes) {
  float max;
  if (!FindRowMax(nullptr, x, classes, &max, nullptr)) {
    FillNaN(y, classes);
    return;
  }
  const __m256 m = _mm256_set1_ps(max);
  const __m256 neg_m = _mm256_set1_ps(-max);
  const RowShift shift = MakeRowShift(max);

  // Pass 2: S = sum of e^(x - M) (M = max where the row shift is not fast). e^(x - M) is stored in y and scaled
  // in place by pass 3.
  __m256d sum0 = _mm256_setzero_pd();
  __m256d sum1 = _mm256_setzero_pd();
  __m256d sum2 = _mm256_setzero_pd();
  __m256d sum3 = _mm256_setzero_pd();
  size_t i = 0;
  const auto sum_pass = [&](auto exp_of) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
      __m256 e[kSumGroup];
#pragma GCC unroll 4
      for (size_t k = 0; k < kSumGroup; ++k) {
        e[k] = exp_of(_mm256_loadu_ps(x + i + k * kLanes));
        _mm256_storeu_ps(y + i + k * kLanes, e[k]);
      }
      const __m256 group = SumGroup(e);
      sum0 = _mm256_add_pd(sum0, LowToDouble(group));
      sum1 = _mm256_add_pd(sum1, HighToDouble(group));
    }
    for (; i + kLanes <= classes; i += kLanes) {
      const __m256 e = exp_of(_mm256_loadu_ps(x + i));
      _mm256_storeu_ps(y + i, e);
      sum2 = _mm256_add_pd(sum2, LowToDouble(e));
      sum3 = _mm256_add_pd(sum3, HighToDouble(e));
    }
    if (i < classes) {
      const __m256i mask = FirstLanes(classes - i);
      const __m256 e = exp_of(LoadRowTail(x + i, mask));
      StoreFirstLanes(y + i, e, classes - i);
      sum2 = _mm256_add_pd(sum2, LowToDouble(e));
      sum3 = _mm256_add_pd(sum3, HighToDouble(e));
    }
  };
  if (shift.fast) {
    sum_pass([&](__m256 v) SIMD_NN_LAMBDA_ALWAYS_INLINE { return ExpShiftedRow(v, shift); });
  } else {
    sum_pass([&](__m256 v) SIMD_NN_LAMBDA_ALWAYS_INLINE { return ExpShifted(v, m, neg_m); });
  }
  const double sum = ReduceAdd(_mm256_add_pd(_mm256_add_pd(sum0, sum1), _mm256_add_pd(sum2, sum3)));
  const __m256 inverse_sum = _mm256_set1_ps(static_cast<float>(1.0 / sum));

  // Pass 3: y = e^(x - M) * (1 / S).
  for (i = 0; i + kLanes <= classes; i += kLanes) {
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inverse_sum));
  }
  if (i < classes) {
    const __m256i mask = FirstLanes(classes - i);
    StoreFirstLanes(y + i, _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), inverse_sum), classes - i);
  }
}

// Row statistics of a group of up to 8 rows, one row per lane.
struct LaneGroup {
  __m256 max;      // the row maximum, NaN for rows without a softmax
  __m256 neg_max;  // -max
  __m256 invalid;  // all bits set for rows without a softmax
};

// Distance in groups of rows from the group being computed to the group being prefetched, in the short-row
// paths (up to 16 classes), for inputs of StreamingThresholdBytes() or more, which are read from memory.
// Without it, softmax and cross-entropy over 10 classes took 1.6-2x as long at 16M elements (AMD Zen 5,
// tools/ab.mjs).
constexpr size_t kPrefetchGroups = 2;

// Returns whether the short-row paths prefetch for a matrix of `elements` floats.
SIMD_NN_ALWAYS_INLINE bool PrefetchesGroups(size_t elements) {
  return elements * sizeof(float) >= StreamingThresholdBytes();
}

// Prefetches the lines of `count` floats at p. Outputs are prefetched the same way: this set does not require
// PREFETCHW.
SIMD_NN_ALWAYS_INLINE void PrefetchSpan(const float* p, size_t count) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = first + count * sizeof(float);
  for (uintptr_t line = first & ~uintptr_t{63}; line < end; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
  }
}

// Writes to out the transpose of the 8 x 8 matrix whose rows are the vectors in, in three steps of 8 shuffles.
SIMD_NN_ALWAYS_INLINE void Transpose8(const __m256* in, __m256* out) {
  // Pairs of rows interleaved within each 128-bit lane.
  __m256 t[8];
#pragma GCC unroll 4
  for (size_t r = 0; r < 8; r += 2) {
    t[r] = _mm256_unpacklo_ps(in[r], in[r + 1]);
    t[r + 1] = _mm256_unpackhi_ps(in[r], in[r + 1]);
  }
  // Groups of four rows: u[4i + k] contains entries k and k + 4 of rows 4i to 4i + 3.
  __m256 u[8];
#pragma GCC unroll 2
  for (size_t r = 0; r < 8; r += 4) {
    u[r] = _mm256_shuffle_ps(t[r], t[r + 2], 0x44);
    u[r + 1] = _mm256_shuffle_ps(t[r], t[r + 2], 0xEE);
    u[r + 2] = _mm256_shuffle_ps(t[r + 1], t[r + 3], 0x44);
    u[r + 3] = _mm256_shuffle_ps(t[r + 1], t[r + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; ++k) {
    out[k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x20);
    out[k + 4] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x31);
  }
}

// Returns the mask of the classes in half h (entries 8h to 8h + 7) of a row.
SIMD_NN_ALWAYS_INLINE __m256i HalfRowMask(size_t classes, size_t h) {
  const size_t first = h * kLanes;
  return ChunkMask(first, classes);
}

// Loads a group of up to 8 rows of up to 16 classes (kMaxWideLanesColumns with kWide) in lane order: columns[j]
// gets entry j of each row, row r in lane r. Rows past `rows` and entries past `classes` read as 0. The rows
// are loaded and transposed 8 entries at a time, as 8 x 8 matrices. With a gather per column instead, softmax
// and cross-entropy over 10 classes took 1.3-1.5x as long (AMD Zen 5, tools/ab.mjs).
//
// `available` is the number of floats from `group` to the end of the array. Where 8 floats from a row's half
// stay inside it, the half is loaded whole and the entries past the row (the next row's) are cleared. Against
// a VMASKMOVPS load there, softmax over 10 classes took 0.96 of the time, the loss 0.90 and the loss with
// backprop 0.95 (AMD EPYC of family 23, tools/ab.mjs).
template <bool kWide>
SIMD_NN_ALWAYS_INLINE void LoadColumns(const float* group, size_t rows, size_t classes, size_t available,
                                       __m256* columns) {
  const size_t halves = kWide ? (classes + kLanes - 1) / kLanes : (classes > kLanes ? 2 : 1);
  for (size_t h = 0; h < halves; ++h) {
    const __m256i half_mask = HalfRowMask(classes, h);
    __m256 row_vectors[kLanes];
#pragma GCC unroll 8
    for (size_t r = 0; r < kLanes; ++r) {
      const size_t start = r * classes + h * kLanes;
      if (r >= rows) {
        row_vectors[r] = _mm256_setzero_ps();
      } else if (start + kLanes <= available) {
        row_vectors[r] = _mm256_and_ps(_mm256_loadu_ps(group + start), _mm256_castsi256_ps(half_mask));
      } else {
        row_vectors[r] = _mm256_maskload_ps(group + start, half_mask);
      }
    }
    Transpose8(row_vectors, columns + h * kLanes);
  }
}

// Stores columns in lane order (see LoadColumns) as `rows` rows of `classes` entries.
template <bool kWide>
SIMD_NN_ALWAYS_INLINE void StoreColumns(const __m256* columns, size_t rows, size_t classes, float* group) {
  const size_t halves = kWide ? (classes + kLanes - 1) / kLanes : (classes > kLanes ? 2 : 1);
  for (size_t h = 0; h < halves; ++h) {
    const size_t count = classes - h * kLanes < kLanes ? classes - h * kLanes : kLanes;
    __m256 row_vectors[kLanes];
    Transpose8(columns + h * kLanes, row_vectors);
    for (size_t r = 0; r < rows; ++r) {
      StoreFirstLanes(group + r * classes + h * kLanes, row_vectors[r], count);
    }
  }
}

SIMD_NN_ALWAYS_INLINE LaneGroup ReduceColumns(const __m256* columns, size_t classes) {
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  __m256 max = _mm256_sub_ps(_mm256_setzero_ps(), inf);
  __m256 nan = _mm256_setzero_ps();
  for (size_t j = 0; j < classes; ++j) {
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(columns[j], columns[j], _CMP_UNORD_Q));
    max = _mm256_max_ps(max, columns[j]);
  }
  const __m256 infinite = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), max), inf, _CMP_EQ_OQ);
  LaneGroup group;
  group.invalid = _mm256_or_ps(nan, infinite);
  group.max = _mm256_blendv_ps(max, _mm256_set1_ps(__builtin_nanf("")), group.invalid);
  group.neg_max = _mm256_sub_ps(_mm256_setzero_ps(), group.max);
  return group;
}

template <bool kWide>
void SoftmaxLanes(const float* x, float* y, size_t rows, size_t classes) {
  __m256 columns[kWide ? kMaxWideLanesColumns : kMaxLanesModeClasses];
  const bool prefetch = PrefetchesGroups(rows * classes);

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const size_t ahead = r0 + kPrefetchGroups * kLanes;
    if (prefetch && ahead + kLanes <= rows) {
      PrefetchSpan(x + ahead * classes, kLanes * classes);
      PrefetchSpan(y + ahead * classes, kLanes * classes);
    }

    // The whole group is read before the first store, so y may be exactly x.
    LoadColumns<kWide>(x + r0 * classes, group_rows, classes, (rows - r0) * classes, columns);
    const LaneGroup group = ReduceColumns(columns, classes);
    // Each row shifts by the multiple of ln2/8 nearest its maximum, as in RowShift, unless its maximum lies
    // beyond kMaxFastRowMax (a `slow` lane). FMA rounds max * 8/ln2 as the exponential rounds x * 8/ln2, so
    // n <= N for every x <= max. Rows without a softmax have a NaN maximum, which makes their shift and results
    // NaN. A group with slow lanes computes both exponentials and picks one per lane, so that a row's bits do
    // not depend on the rows beside it.
    const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), group.max);
    const __m256 slow = _mm256_cmp_ps(magnitude, _mm256_set1_ps(kMaxFastRowMax), _CMP_GT_OQ);
    const bool any_slow = _mm256_movemask_ps(slow) != 0;
    const __m256 biased_max = _mm256_fmadd_ps(group.max, _mm256_set1_ps(8.0f * approx::kLog2e),
                                              _mm256_set1_ps(kRoundingMagicWithBias));
    const __m256 n_of_max = _mm256_sub_ps(biased_max, _mm256_set1_ps(kRoundingMagicWithBias));
    const __m256 magic = _mm256_sub_ps(_mm256_set1_ps(kRoundingMagicWithBias), n_of_max);
    const __m256 lower = _mm256_fmadd_ps(n_of_max, _mm256_set1_ps(static_cast<float>(approx::kLn2 / 8.0)),
                                         _mm256_set1_ps(-87.9f));

    // The exponentials in loops of their own, then the sums in the same order: softmax over 10 to 24 classes
    // took 0.91 to 0.94 of the time of one loop with both (AMD EPYC of family 23, tools/ab.mjs, both orders).
    if (any_slow) {
      for (size_t j = 0; j < classes; ++j) {
        columns[j] = _mm256_blendv_ps(ExpShiftedFast(columns[j], magic, lower),
                                      ExpShifted(columns[j], group.max, group.neg_max), slow);
      }
    } else {
      for (size_t j = 0; j < classes; ++j) {
        columns[j] = ExpShiftedFast(columns[j], magic, lower);
      }
    }
    __m256d sum_low = _mm256_setzero_pd();
    __m256d sum_high = _mm256_setzero_pd();
    for (size_t j = 0; j < classes; ++j) {
      sum_low = _mm256_add_pd(sum_low, LowToDouble(columns[j]));
      sum_high = _mm256_add_pd(sum_high, HighToDouble(columns[j]));
    }
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256 inverse_sum = JoinToFloat(_mm256_div_pd(one, sum_low), _mm256_div_pd(one, sum_high));
    for (size_t j = 0; j < classes; ++j) {
      columns[j] = _mm256_mul_ps(columns[j], inverse_sum);
    }
    StoreColumns<kWide>(columns, group_rows, classes, y + r0 * classes);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Softmax cross-entropy

// ExpShifted flushes terms below 2^-126 to 0, which can lower the sum below the maximum (S') by up to
// classes * 2^-126, 2^-26 of S' at this threshold times the class count. Below it, S' is added up again with
// ExpShiftedInDouble. Only rows where one class dominates the others by about 69 nats or more get there.
constexpr double kSubnormalTermsSum = 0x1p-100;

// Rows with a single maximum and S' below this form their label sums in float64 (LabelSumsInDouble). A
// product z (x - max) that rounds to a float32 subnormal is off by up to 2^-150, which a relative bound does
// not cover. Once S' >= 2^-60, log S is at least about 2^-60, and 65,536 such errors (2^-134) stay far below
// an ulp of it. Below, one class dominates by more than about 41 nats, and the loss can be as small as those
// products: tiny labels would leave it off by thousands of ulp.
constexpr double kMinFloatLabelsRestSum = 0x1p-60;

// The value S' takes where every term underflows (x - max below -708) although an entry below the maximum is
// finite. S' is then positive, and so is log S: an infinite label at the maximum gives a loss of +-inf and a
// gradient of -+inf there, the limits, rather than inf * 0 = NaN. Against finite labels it is negligible.
constexpr double kUnderflowedRestSum = 0x1p-1000;

// Returns S', the sum of e^(x - max) over the entries below the maximum, with each term in float64, or
// kUnderflowedRestSum where every term underflows but one is finite.
double RestSumInDouble(const float* x, size_t classes, __m256 m, __m256 neg_m) {
  __m256d low_sum = _mm256_setzero_pd();
  __m256d high_sum = _mm256_setzero_pd();
  __m256 finite_below = _mm256_setzero_ps();
  for (size_t i = 0; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    const __m256 below_max = _mm256_andnot_ps(_mm256_cmp_ps(v, m, _CMP_EQ_OQ), _mm256_castsi256_ps(mask));
    const __m256 finite = _mm256_cmp_ps(v, _mm256_set1_ps(-__builtin_inff()), _CMP_NEQ_OQ);
    finite_below = _mm256_or_ps(finite_below, _mm256_and_ps(below_max, finite));
    __m256d low;
    __m256d high;
    ExpShiftedInDouble(v, m, neg_m, below_max, &low, &high);
    low_sum = _mm256_add_pd(low_sum, low);
    high_sum = _mm256_add_pd(high_sum, high);
  }
  const double sum = ReduceAdd(_mm256_add_pd(low_sum, high_sum));
  return sum == 0.0 && _mm256_movemask_ps(finite_below) != 0 ? kUnderflowedRestSum : sum;
}

// Returns the label sum and the weighted shift of a row, each term in float64, as XentRow needs them when its
// float32 group sums cannot be trusted: labels of both signs may cancel, and sums may overflow or turn NaN.
// Terms at the maximum are left out of the weighted shift, so that an infinite label there gives
// label_sum * log S = +-inf rather than inf * 0 = NaN. A label of exactly 0 contributes nothing, even where
// x - max is -inf.
void LabelSumsInDouble(const float* z, const float* x, size_t classes, float max, double* label_sum,
                       double* weighted_shift) {
  const __m256 m = _mm256_set1_ps(max);
  const __m256d m_double = _mm256_set1_pd(max);
  __m256d labels_low = _mm256_setzero_pd();
  __m256d labels_high = _mm256_setzero_pd();
  __m256d shift_low = _mm256_setzero_pd();
  __m256d shift_high = _mm256_setzero_pd();
  for (size_t i = 0; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    const __m256 w = _mm256_maskload_ps(z + i, mask);
    labels_low = _mm256_add_pd(labels_low, LowToDouble(w));
    labels_high = _mm256_add_pd(labels_high, HighToDouble(w));

    const __m256 labeled = _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    const __m256 shifted = _mm256_andnot_ps(_mm256_cmp_ps(v, m, _CMP_EQ_OQ), labeled);
    const __m256d term_low = _mm256_mul_pd(LowToDouble(w), _mm256_sub_pd(LowToDouble(v), m_double));
    const __m256d term_high = _mm256_mul_pd(HighToDouble(w), _mm256_sub_pd(HighToDouble(v), m_double));
    shift_low = _mm256_add_pd(shift_low, _mm256_and_pd(LowMaskToDouble(shifted), term_low));
    shift_high = _mm256_add_pd(shift_high, _mm256_and_pd(HighMaskToDouble(shifted), term_high));
  }
  *label_sum = ReduceAdd(_mm256_add_pd(labels_low, labels_high));
  *weighted_shift = ReduceAdd(_mm256_add_pd(shift_low, shift_high));
}

// Computes one row's statistics and, when grad is not null, its gradient e^(x - max) / S - z. grad may be
// exactly x. Between passes 2 and 3, e^(x - M) waits in grad, and when grad is exactly x, pass 3 computes it
// again. The logits must stay intact until pass 2 is over: a row whose S' is too small adds it up again from
// them (RestSumInDouble).
XentRowStats XentRow(const float* z, const float* x, float* grad, size_t classes) {
  const double nan = __builtin_nan("");
  float max;
  bool negative_label = false;
  if (!FindRowMax(z, x, classes, &max, &negative_label)) {
    if (grad != nullptr) {
      FillNaN(grad, classes);
    }
    return XentRowStats{nan, nan, nan};
  }
  const __m256 m = _mm256_set1_ps(max);
  const __m256 neg_m = _mm256_set1_ps(-max);

  // Pass 2. Entries equal to the maximum contribute exactly 1 each and are counted apart, so that the sum
  // below the maximum (S') keeps its value for log1p when one class dominates.
  //
  // The labels and the weighted shift are added in float32 within each group of kSumGroup vectors and in
  // float64 across groups. With non-negative labels every term z (x - max) has the same sign. The roundings
  // of x - max, of the product and of the two levels of the sum tree then leave a relative error below
  // 4 * 2^-24 in the weighted shift, and the label sum keeps below 2 * 2^-24. Both are within the 8 ulp bound
  // unless products round to subnormals (see kMinFloatLabelsRestSum). Rows with a negative label (whose terms
  // could cancel), with sums that are not finite, or with one class dominating add them up again in float64
  // (LabelSumsInDouble). A label of exactly 0 contributes nothing, even where x - max is -inf.
  __m256d rest_low = _mm256_setzero_pd();
  __m256d rest_high = _mm256_setzero_pd();
  __m256d labels_low = _mm256_setzero_pd();
  __m256d labels_high = _mm256_setzero_pd();
  __m256d shift_low = _mm256_setzero_pd();
  __m256d shift_high = _mm256_setzero_pd();
  size_t max_count = 0;
  size_t max_position = 0;
  float* const exp_store = grad != x ? grad : nullptr;
  const RowShift shift = MakeRowShift(max);
  // One vector of pass 2: its logits v (past the row's end, -inf). Returns e^(x - M) and sets *rest_terms to
  // its terms below the maximum, for the caller to add to S'.
  const auto accumulate = [&](size_t i, __m256 v, auto exp_of, __m256* rest_terms) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m256 e = exp_of(v);

    const __m256 at_max = _mm256_cmp_ps(v, m, _CMP_EQ_OQ);
    *rest_terms = _mm256_andnot_ps(at_max, e);
    const unsigned at_max_bits = static_cast<unsigned>(_mm256_movemask_ps(at_max));
    if (at_max_bits != 0) {
      max_count += static_cast<size_t>(__builtin_popcount(at_max_bits));
      max_position = i + static_cast<size_t>(__builtin_ctz(at_max_bits));
    }
    return e;
  };
  // The terms z (x - max) of one vector, from its logits v and labels w (past the row's end, -inf and 0).
  const auto shift_terms_of = [&](__m256 v, __m256 w) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    const __m256 labeled = _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    return _mm256_and_ps(labeled, _mm256_mul_ps(w, _mm256_sub_ps(v, m)));
  };
  // Whole vectors go without masks. With VMASKMOVPS on every vector, the loss and the loss with backprop took
  // 7% and 18% longer at 64K elements (AMD Zen 5, tools/ab.mjs).
  size_t i = 0;
  const auto add_rest = [&](__m256 rest_terms) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    rest_low = _mm256_add_pd(rest_low, LowToDouble(rest_terms));
    rest_high = _mm256_add_pd(rest_high, HighToDouble(rest_terms));
  };
  const auto add_label_sums = [&](__m256 labels, __m256 shift_terms) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    labels_low = _mm256_add_pd(labels_low, LowToDouble(labels));
    labels_high = _mm256_add_pd(labels_high, HighToDouble(labels));
    shift_low = _mm256_add_pd(shift_low, LowToDouble(shift_terms));
    shift_high = _mm256_add_pd(shift_high, HighToDouble(shift_terms));
  };
  const auto exp_pass = [&](auto exp_of) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    for (; i + kSumGroup * kLanes <= classes; i += kSumGroup * kLanes) {
      __m256 v[kSumGroup];
      __m256 rest_terms[kSumGroup];
#pragma GCC unroll 4
      for (size_t k = 0; k < kSumGroup; ++k) {
        const size_t at = i + k * kLanes;
        v[k] = _mm256_loadu_ps(x + at);
        const __m256 e = accumulate(at, v[k], exp_of, &rest_terms[k]);
        if (exp_store != nullptr) {
          _mm256_storeu_ps(exp_store + at, e);
        }
      }
      add_rest(SumGroup(rest_terms));

      // With one-hot labels most groups have none, and the branch skips their label sums.
      __m256 labels[kSumGroup];
#pragma GCC unroll 4
      for (size_t k = 0; k < kSumGroup; ++k) {
        labels[k] = _mm256_loadu_ps(z + i + k * kLanes);
      }
      const __m256i label_bits = _mm256_castps_si256(
          _mm256_or_ps(_mm256_or_ps(labels[0], labels[1]), _mm256_or_ps(labels[2], labels[3])));
      if (!_mm256_testz_si256(label_bits, label_bits)) {
        __m256 shift_terms[kSumGroup];
#pragma GCC unroll 4
        for (size_t k = 0; k < kSumGroup; ++k) {
          shift_terms[k] = shift_terms_of(v[k], labels[k]);
        }
        add_label_sums(SumGroup(labels), SumGroup(shift_terms));
      }
    }
    for (; i + kLanes <= classes; i += kLanes) {
      __m256 rest_terms;
      const __m256 v = _mm256_loadu_ps(x + i);
      const __m256 w = _mm256_loadu_ps(z + i);
      const __m256 e = accumulate(i, v, exp_of, &rest_terms);
      if (exp_store != nullptr) {
        _mm256_storeu_ps(exp_store + i, e);
      }
      add_rest(rest_terms);
      add_label_sums(w, shift_terms_of(v, w));
    }
    if (i < classes) {
      const __m256i mask = FirstLanes(classes - i);
      __m256 rest_terms;
      const __m256 v = LoadRowTail(x + i, mask);
      const __m256 w = _mm256_maskload_ps(z + i, mask);
      const __m256 e = accumulate(i, v, exp_of, &rest_terms);
      if (exp_store != nullptr) {
        StoreFirstLanes(exp_store + i, e, classes - i);
      }
      add_rest(rest_terms);
      add_label_sums(w, shift_terms_of(v, w));
    }
  };
  const auto fast_exp = [&](__m256 v) SIMD_NN_LAMBDA_ALWAYS_INLINE { return ExpShiftedRow(v, shift); };
  const auto exact_exp = [&](__m256 v) SIMD_NN_LAMBDA_ALWAYS_INLINE { return ExpShifted<true>(v, m, neg_m); };
  if (shift.fast) {
    exp_pass(fast_exp);
  } else {
    exp_pass(exact_exp);
  }
  // The sums are of 2^32 e^(x - M) = 2^32 e^(x - max) e^R; S' takes them back to the shift by max.
  const double unshift = ExpOfNegatedReduced(shift.reduced) * kScaledExpUnscale;
  double rest = ReduceAdd(_mm256_add_pd(rest_low, rest_high)) * unshift;
  if (rest < static_cast<double>(classes) * kSubnormalTermsSum) {
    rest = RestSumInDouble(x, classes, m, neg_m);
  }
  XentRowStats stats;
  stats.log1p_argument = static_cast<double>(max_count - 1) + rest;
  double label_sum = ReduceAdd(_mm256_add_pd(labels_low, labels_high));
  double weighted_shift = ReduceAdd(_mm256_add_pd(shift_low, shift_high));
  // x is still intact here (pass 3 has not run).
  const bool dominated = max_count == 1 && rest < kMinFloatLabelsRestSum;
  if (negative_label || dominated || !__builtin_isfinite(label_sum + weighted_shift)) {
    LabelSumsInDouble(z, x, classes, max, &label_sum, &weighted_shift);
  }
  if (negative_label && HasNegativeLabel(z, classes)) {
    // Terms of both signs can cancel below the rounding of x - max or of the label sum. Keeps the float64
    // sums where a label or logit is not finite. A label of -0 alone sets the sign bit but cancels nothing.
    ExactLabelSums(z, x, classes, max, &label_sum, &weighted_shift);
  }
  stats.label_sum = label_sum;
  stats.weighted_shift = weighted_shift;
  if (__builtin_isinf(label_sum)) {
    stats.label_at_max = LabelsAtMax(z, x, classes, max);
  }
  if (grad == nullptr) {
    return stats;
  }

  // Pass 3: grad = e * (1 / S_M) - z, with e = e^(x - M) from pass 2 and S_M = S e^R. whole(i) and part(i, mask)
  // return e for a whole vector and for the first lanes of one.
  const double sum = static_cast<double>(max_count) + rest;
  const __m256 inverse_sum = _mm256_set1_ps(static_cast<float>(unshift / sum));
  const auto gradient_pass = [&](auto whole, auto part) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    for (i = 0; i + kLanes <= classes; i += kLanes) {
      _mm256_storeu_ps(grad + i, _mm256_fmsub_ps(whole(i), inverse_sum, _mm256_loadu_ps(z + i)));
    }
    if (i < classes) {
      const __m256i mask = FirstLanes(classes - i);
      StoreFirstLanes(grad + i, _mm256_fmsub_ps(part(i, mask), inverse_sum, _mm256_maskload_ps(z + i, mask)),
                      classes - i);
    }
  };
  const auto recompute = [&](auto exp_of) SIMD_NN_LAMBDA_ALWAYS_INLINE {
    gradient_pass([&](size_t at) SIMD_NN_LAMBDA_ALWAYS_INLINE { return exp_of(_mm256_loadu_ps(x + at)); },
                  [&](size_t at, __m256i mask)
                      SIMD_NN_LAMBDA_ALWAYS_INLINE { return exp_of(LoadRowTail(x + at, mask)); });
  };
  if (exp_store != nullptr) {
    gradient_pass([&](size_t at) SIMD_NN_LAMBDA_ALWAYS_INLINE { return _mm256_loadu_ps(exp_store + at); },
                  [&](size_t at, __m256i mask)
                      SIMD_NN_LAMBDA_ALWAYS_INLINE { return _mm256_maskload_ps(exp_store + at, mask); });
  } else if (shift.fast) {
    recompute(fast_exp);
  } else {
    recompute(exact_exp);
  }

  // A single maximum: p - z = 1 / (1 + S') - z is computed as ((1 - z) - z S') / S, which keeps the tiny
  // gradient of a dominant class instead of cancelling 1 / S against z. With S' = 0 (every other logit -inf),
  // an infinite z would make z S' NaN; the gradient is 1 - z.
  if (max_count == 1) {
    const double label = z[max_position];
    grad[max_position] = static_cast<float>(((1.0 - label) - (rest > 0.0 ? label * rest : 0.0)) / sum);
  }
  return stats;
}

// Returns label_sum * log S - weighted_shift. Where log S is 0 and the label sum infinite, that product is
// inf * 0 = NaN, while the scalar set sums the terms z (log S - s): the infinite labels below the maximum give
// infinite terms, already in weighted_shift, and only those at the maximum give inf * 0. The loss is then
// label_at_max * log S - weighted_shift.
SIMD_NN_ALWAYS_INLINE __m256d LossFromStats(__m256d label_sum, __m256d log_sum, __m256d weighted_shift,
                                            __m256d label_at_max) {
  const __m256d loss = _mm256_fmsub_pd(label_sum, log_sum, weighted_shift);
  const __m256d infinite_labels =
      _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), label_sum), _mm256_set1_pd(__builtin_inf()), _CMP_EQ_OQ);
  const __m256d zero_log = _mm256_cmp_pd(log_sum, _mm256_setzero_pd(), _CMP_EQ_OQ);
  return _mm256_blendv_pd(loss, _mm256_fmsub_pd(label_at_max, log_sum, weighted_shift),
                          _mm256_and_pd(infinite_labels, zero_log));
}

// Writes the losses of up to kLossBatch rows from their statistics.
void StoreLosses(const XentRowStats* stats, size_t count, float* loss) {
  double argument[kLossBatch];
  double label_sum[kLossBatch];
  double weighted_shift[kLossBatch];
  double label_at_max[kLossBatch];
  for (size_t r = 0; r < count; ++r) {
    argument[r] = stats[r].log1p_argument;
    label_sum[r] = stats[r].label_sum;
    weighted_shift[r] = stats[r].weighted_shift;
    label_at_max[r] = stats[r].label_at_max;
  }
  const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(count)),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
  const __m256d log_sum = Log1pPd(_mm256_maskload_pd(argument, mask));
  const __m256d row_loss =
      LossFromStats(_mm256_maskload_pd(label_sum, mask), log_sum, _mm256_maskload_pd(weighted_shift, mask),
                    _mm256_maskload_pd(label_at_max, mask));
  // count is at most kLossBatch = 4, so the undefined upper lanes of the cast are never stored.
  static_assert(kLossBatch <= 4, "StoreLosses stores the 4 losses of one float64 vector");
  StoreFirstLanes(loss, _mm256_castps128_ps256(_mm256_cvtpd_ps(row_loss)), count);
}

void XentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
              size_t classes) {
  XentRowStats stats[kLossBatch];
  for (size_t r0 = 0; r0 < rows; r0 += kLossBatch) {
    const size_t count = rows - r0 < kLossBatch ? rows - r0 : kLossBatch;
    for (size_t r = 0; r < count; ++r) {
      const size_t offset = (r0 + r) * classes;
      stats[r] = XentRow(labels + offset, logits + offset, backprop != nullptr ? backprop + offset : nullptr,
                         classes);
    }
    StoreLosses(stats, count, loss + r0);
  }
}

// Returns log S = log1p((max_count - 1) + S') of each lane, from the lane statistics.
SIMD_NN_ALWAYS_INLINE __m256d LaneLogSum(__m256d max_count, __m256d rest) {
  return Log1pPd(_mm256_add_pd(_mm256_sub_pd(max_count, _mm256_set1_pd(1.0)), rest));
}

// Cross-entropy of rows of up to 16 classes (kMaxWideXentLanesClasses with kWide), 8 rows at a time with one
// row per lane. The gradient is written when kWithGradient is set (backprop not null). Two out-of-line instances, as on AVX-512 (see XentLanes in
// avx512_rows.cpp), so that the loss alone does not keep e^(x - max) for a gradient.
// The loop of XentLanes. Returns whether a label has its sign bit set (-0 included), for
// XentLanesWithExactSums, which computes again the losses of rows with a negative label.
template <bool kWithGradient, bool kWide>
__attribute__((noinline)) bool XentLanesLoop(const float* labels, const float* logits, float* loss, float* backprop,
                                         size_t rows, size_t classes) {
  const __m256 one = _mm256_set1_ps(1.0f);
  // Lane-order columns of the group (see LoadColumns) and e^(x - max) of each.
  constexpr size_t kMaxColumns = kWide ? kMaxWideLanesColumns : kMaxLanesModeClasses;
  __m256 columns[kMaxColumns];
  __m256 label_columns[kMaxColumns];
  __m256 exps[kMaxColumns];
  const bool prefetch = PrefetchesGroups(rows * classes);
  unsigned negative_lanes = 0;

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const size_t ahead = r0 + kPrefetchGroups * kLanes;
    if (prefetch && ahead + kLanes <= rows) {
      PrefetchSpan(logits + ahead * classes, kLanes * classes);
      PrefetchSpan(labels + ahead * classes, kLanes * classes);
      if constexpr (kWithGradient) {
        PrefetchSpan(backprop + ahead * classes, kLanes * classes);
      }
    }
    LoadColumns<kWide>(logits + r0 * classes, group_rows, classes, (rows - r0) * classes, columns);
    LoadColumns<kWide>(labels + r0 * classes, group_rows, classes, (rows - r0) * classes, label_columns);
    const LaneGroup group = ReduceColumns(columns, classes);
    const __m256d max_low = LowToDouble(group.max);
    const __m256d max_high = HighToDouble(group.max);

    __m256 max_count = _mm256_setzero_ps();
    __m256d rest_low = _mm256_setzero_pd();
    __m256d rest_high = _mm256_setzero_pd();
    __m256d shift_low = _mm256_setzero_pd();
    __m256d shift_high = _mm256_setzero_pd();
    __m256d label_low = _mm256_setzero_pd();
    __m256d label_high = _mm256_setzero_pd();
    __m256 label_signs = _mm256_setzero_ps();
    // The exponentials first, in a loop of their own (see SoftmaxLanes): the loss and the loss with backprop
    // over 10 and 40 classes took 0.92 to 0.96 of the time.
    for (size_t j = 0; j < classes; ++j) {
      exps[j] = ExpShifted<true>(columns[j], group.max, group.neg_max);
    }
    for (size_t j = 0; j < classes; ++j) {
      const __m256 v = columns[j];
      const __m256 w = label_columns[j];
      label_signs = _mm256_or_ps(label_signs, w);
      const __m256 e = exps[j];
      const __m256 at_max = _mm256_cmp_ps(v, group.max, _CMP_EQ_OQ);
      max_count = _mm256_add_ps(max_count, _mm256_and_ps(at_max, one));
      const __m256 rest_terms = _mm256_andnot_ps(at_max, e);
      rest_low = _mm256_add_pd(rest_low, LowToDouble(rest_terms));
      rest_high = _mm256_add_pd(rest_high, HighToDouble(rest_terms));

      // Terms at the maximum are left out of the weighted shift, as in XentRowExact.
      const __m256 shifted = _mm256_andnot_ps(at_max, _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_NEQ_UQ));
      const __m256d w_low = LowToDouble(w);
      const __m256d w_high = HighToDouble(w);
      const __m256d term_low = _mm256_mul_pd(w_low, _mm256_sub_pd(LowToDouble(v), max_low));
      const __m256d term_high = _mm256_mul_pd(w_high, _mm256_sub_pd(HighToDouble(v), max_high));
      shift_low = _mm256_add_pd(shift_low, _mm256_and_pd(LowMaskToDouble(shifted), term_low));
      shift_high = _mm256_add_pd(shift_high, _mm256_and_pd(HighMaskToDouble(shifted), term_high));
      label_low = _mm256_add_pd(label_low, w_low);
      label_high = _mm256_add_pd(label_high, w_high);
    }
    negative_lanes |= static_cast<unsigned>(_mm256_movemask_ps(label_signs)) & ((1u << group_rows) - 1u);
    // The terms were 2^32 e^(x - max) (ExpShifted<true>); exps keeps that scale for the gradient.
    rest_low = _mm256_mul_pd(rest_low, _mm256_set1_pd(kScaledExpUnscale));
    rest_high = _mm256_mul_pd(rest_high, _mm256_set1_pd(kScaledExpUnscale));
    // Rows whose S' is small enough for flushed terms to matter add it up again in float64, as in XentRow.
    const __m256d threshold = _mm256_set1_pd(static_cast<double>(classes) * kSubnormalTermsSum);
    const __m256d tiny_low = _mm256_cmp_pd(rest_low, threshold, _CMP_LT_OQ);
    const __m256d tiny_high = _mm256_cmp_pd(rest_high, threshold, _CMP_LT_OQ);
    // Only the group's rows count. The zeros loaded past the last row are all at their maximum, so their S'
    // is 0, and counted, they would send every partial group through this pass.
    const unsigned tiny_rows = static_cast<unsigned>(_mm256_movemask_pd(tiny_low)) |
                               (static_cast<unsigned>(_mm256_movemask_pd(tiny_high)) << 4);
    if ((tiny_rows & ((1u << group_rows) - 1u)) != 0) {
      __m256d exact_low = _mm256_setzero_pd();
      __m256d exact_high = _mm256_setzero_pd();
      __m256 finite_below = _mm256_setzero_ps();
      for (size_t j = 0; j < classes; ++j) {
        const __m256 below_max = _mm256_cmp_ps(columns[j], group.max, _CMP_NEQ_OQ);
        const __m256 finite = _mm256_cmp_ps(columns[j], _mm256_set1_ps(-__builtin_inff()), _CMP_NEQ_OQ);
        finite_below = _mm256_or_ps(finite_below, _mm256_and_ps(below_max, finite));
        __m256d term_low;
        __m256d term_high;
        ExpShiftedInDouble(columns[j], group.max, group.neg_max, below_max, &term_low, &term_high);
        exact_low = _mm256_add_pd(exact_low, term_low);
        exact_high = _mm256_add_pd(exact_high, term_high);
      }
      // As in RestSumInDouble, a finite entry below the maximum keeps S' positive.
      const __m256d underflowed = _mm256_set1_pd(kUnderflowedRestSum);
      const __m256d zero = _mm256_setzero_pd();
      const __m256d zero_low = _mm256_cmp_pd(exact_low, zero, _CMP_EQ_OQ);
      const __m256d zero_high = _mm256_cmp_pd(exact_high, zero, _CMP_EQ_OQ);
      exact_low = _mm256_blendv_pd(exact_low, underflowed, _mm256_and_pd(zero_low, LowMaskToDouble(finite_below)));
      exact_high =
          _mm256_blendv_pd(exact_high, underflowed, _mm256_and_pd(zero_high, HighMaskToDouble(finite_below)));
      rest_low = _mm256_blendv_pd(rest_low, exact_low, tiny_low);
      rest_high = _mm256_blendv_pd(rest_high, exact_high, tiny_high);
    }

    const __m256d count_low = LowToDouble(max_count);
    const __m256d count_high = HighToDouble(max_count);
    const __m256d log_low = LaneLogSum(count_low, rest_low);
    const __m256d log_high = LaneLogSum(count_high, rest_high);
    __m256d loss_low = _mm256_fmsub_pd(label_low, log_low, shift_low);
    __m256d loss_high = _mm256_fmsub_pd(label_high, log_high, shift_high);
    // Where a label sum is infinite, the loss needs the labels at each row's maximum (see LossFromStats).
    const __m256d inf = _mm256_set1_pd(__builtin_inf());
    const __m256d sign_bit = _mm256_set1_pd(-0.0);
    if ((_mm256_movemask_pd(_mm256_cmp_pd(_mm256_andnot_pd(sign_bit, label_low), inf, _CMP_EQ_OQ)) |
         _mm256_movemask_pd(_mm256_cmp_pd(_mm256_andnot_pd(sign_bit, label_high), inf, _CMP_EQ_OQ))) != 0) {
      __m256d at_max_low = _mm256_setzero_pd();
      __m256d at_max_high = _mm256_setzero_pd();
      for (size_t j = 0; j < classes; ++j) {
        const __m256 labels_at_max =
            _mm256_and_ps(_mm256_cmp_ps(columns[j], group.max, _CMP_EQ_OQ), label_columns[j]);
        at_max_low = _mm256_add_pd(at_max_low, LowToDouble(labels_at_max));
        at_max_high = _mm256_add_pd(at_max_high, HighToDouble(labels_at_max));
      }
      loss_low = LossFromStats(label_low, log_low, shift_low, at_max_low);
      loss_high = LossFromStats(label_high, log_high, shift_high, at_max_high);
    }
    __m256 group_loss = JoinToFloat(loss_low, loss_high);
    group_loss = _mm256_blendv_ps(group_loss, _mm256_set1_ps(__builtin_nanf("")), group.invalid);
    StoreFirstLanes(loss + r0, group_loss, group_rows);
    if constexpr (!kWithGradient) {
      continue;
    }

    const __m256d one_double = _mm256_set1_pd(1.0);
    const __m256 inverse_sum = JoinToFloat(_mm256_div_pd(one_double, _mm256_add_pd(count_low, rest_low)),
                                           _mm256_div_pd(one_double, _mm256_add_pd(count_high, rest_high)));
    const __m256 exps_inverse_sum = _mm256_mul_ps(inverse_sum, _mm256_set1_ps(static_cast<float>(kScaledExpUnscale)));
    // A single maximum: ((1 - z) - z S') / S, as in XentRow, computed as (1 - z) / S - z (S' / S), whose two
    // products stay below |z|: (1 - z) - z S' overflowed for z near 3e38 and S' above 0.13.
    const __m256 rest_share = _mm256_mul_ps(JoinToFloat(rest_low, rest_high), inverse_sum);
    const __m256 single = _mm256_cmp_ps(max_count, one, _CMP_EQ_OQ);
    // Columns past the row are 0: the transpose in StoreColumns reads them, though no store writes them.
    __m256 gradient[kMaxColumns];
    const size_t padded_columns = kWide ? (classes + kLanes - 1) / kLanes * kLanes : kMaxLanesModeClasses;
    for (size_t j = 0; j < padded_columns; ++j) {
      if (j >= classes) {
        gradient[j] = _mm256_setzero_ps();
        continue;
      }
      const __m256 v = columns[j];
      const __m256 w = label_columns[j];
      const __m256 g = _mm256_fmsub_ps(exps[j], exps_inverse_sum, w);
      const __m256 dominant = _mm256_and_ps(single, _mm256_cmp_ps(v, group.max, _CMP_EQ_OQ));
      __m256 fixed = _mm256_fnmadd_ps(w, rest_share, _mm256_mul_ps(_mm256_sub_ps(one, w), inverse_sum));
      // An infinite label gives -z: the limit where S' > 0, and 1 - z where S' = 0. The formula would take
      // inf * 0 = NaN where S' / S rounds to 0 or S' is 0 (S' may be kUnderflowedRestSum, 0 in float32).
      const __m256 infinite_label =
          _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), w), _mm256_set1_ps(__builtin_inff()), _CMP_EQ_OQ);
      fixed = _mm256_blendv_ps(fixed, _mm256_sub_ps(_mm256_setzero_ps(), w), infinite_label);
      gradient[j] = _mm256_blendv_ps(g, fixed, dominant);
    }
    StoreColumns<kWide>(gradient, group_rows, classes, backprop + r0 * classes);
  }
  return negative_lanes != 0;
}

// Returns the loss of one row through XentRow, whose label sums are exact where a label is negative.
float XentRowLoss(const float* labels, const float* logits, size_t classes) {
  const XentRowStats stats = XentRow(labels, logits, nullptr, classes);
  float loss;
  StoreLosses(&stats, 1, &loss);
  return loss;
}

// Computes cross-entropy over rows of up to 16 classes (kMaxWideXentLanesClasses with kWide) with XentLanesLoop
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
    SoftmaxLanes<false>(x, y, rows, classes);
    return;
  }
  if (classes <= kMaxWideSoftmaxLanesClasses) {
    SoftmaxLanes<true>(x, y, rows, classes);
    return;
  }
  // NOTE: rows use ordinary stores even where the output passes StreamingThresholdBytes(). At 16M elements
  // (AMD Zen 5, tools/ab.mjs), rows streamed with 32-byte non-temporal stores took 1.2 to 1.5 times as long at
  // 512 and 1000 classes, and up to 9 times at 17 to 24, where those stores split lines. Streaming only whole
  // 64-byte lines took 1.0 to 1.3 times as long up to 2048 classes. At 4096 softmax lost 8% and the gradient
  // gained 3%. Other CPUs were not measured.
  for (size_t r = 0; r < rows; ++r) {
    SoftmaxRow(x + r * classes, y + r * classes, classes);
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
  if (classes <= kMaxWideXentLanesClasses) {
    XentLanesWithOrWithoutGradient<true>(labels, logits, loss, backprop, rows, classes);
    return;
  }
  // Ordinary stores at every size, as in SoftmaxRows.
  XentRows(labels, logits, loss, backprop, rows, classes);
}

}  // namespace avx2
}  // namespace simd_nn
