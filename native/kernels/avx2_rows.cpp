// AVX2 row kernels: softmax and fused softmax cross-entropy over dense rows x classes matrices.
//
// The same algorithms as the AVX-512 set with 8 lanes. Rows of more than 16 classes are vectorized within the
// row: one pass finds the maximum, a second computes e^(x - max) and the sums (float64 lanes), and a third
// writes the output. The second and third passes re-read the row from cache, so memory sees one read of each
// input row. Rows of up to 16 classes are vectorized across rows instead: lane r holds row r of a group of 8,
// its entries are gathered, and the output is written in the natural layout with each lane's statistics
// broadcast to its row's elements.
#include "avx2_math.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx2 {
namespace {

constexpr size_t kMaxLanesModeClasses = 16;

// Rows of up to this many classes keep e^(x - max) in a 16 KiB stack buffer, which stays in L1, when the
// output is large enough for non-temporal stores. Longer rows use ordinary stores.
constexpr size_t kScratchFloats = 4096;
// Rows whose losses are finished together by one 4-lane log1p.
constexpr size_t kLossBatch = 4;

// Statistics of one cross-entropy row, enough for its loss: loss = label_sum * log1p(log1p_argument) -
// weighted_shift, where weighted_shift = sum over labels z != 0 of z * (x - max).
struct XentRowStats {
  double log1p_argument;  // S - 1 = (entries at the maximum - 1) + sum of e^(x - max) below it; NaN if invalid
  double label_sum;
  double weighted_shift;
};

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
    _mm256_maskstore_ps(y + i, FirstLanes(n - i), nan);
  }
}

// Finds the row maximum and, when z is not null, the sum of the row's labels in float64. Returns false when
// the row has no softmax: a NaN entry, a +inf entry, or all -inf.
//
// Cross-entropy reads its labels here rather than in the next pass: this pass does little arithmetic per
// element, so it streams both rows from memory at full bandwidth, and the next pass finds them in cache.
bool FindRowMax(const float* z, const float* x, size_t classes, float* max, double* label_sum) {
  const __m256 minus_inf = _mm256_set1_ps(-__builtin_inff());
  __m256 max0 = minus_inf;
  __m256 max1 = minus_inf;
  __m256d labels0 = _mm256_setzero_pd();
  __m256d labels1 = _mm256_setzero_pd();
  __m256 nan = _mm256_setzero_ps();

  size_t i = 0;
  for (; i + 2 * kLanes <= classes; i += 2 * kLanes) {
    const __m256 v0 = _mm256_loadu_ps(x + i);
    const __m256 v1 = _mm256_loadu_ps(x + i + kLanes);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));
    max0 = _mm256_max_ps(max0, v0);
    max1 = _mm256_max_ps(max1, v1);
    if (z != nullptr) {
      const __m256 w0 = _mm256_loadu_ps(z + i);
      const __m256 w1 = _mm256_loadu_ps(z + i + kLanes);
      labels0 = _mm256_add_pd(labels0, _mm256_add_pd(LowToDouble(w0), HighToDouble(w0)));
      labels1 = _mm256_add_pd(labels1, _mm256_add_pd(LowToDouble(w1), HighToDouble(w1)));
    }
  }

  for (; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 v = _mm256_blendv_ps(minus_inf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    max0 = _mm256_max_ps(max0, v);
    if (z != nullptr) {
      const __m256 w = _mm256_maskload_ps(z + i, mask);
      labels0 = _mm256_add_pd(labels0, _mm256_add_pd(LowToDouble(w), HighToDouble(w)));
    }
  }

  const float m = ReduceMax(_mm256_max_ps(max0, max1));
  *max = m;
  if (z != nullptr) {
    *label_sum = ReduceAdd(_mm256_add_pd(labels0, labels1));
  }
  return _mm256_movemask_ps(nan) == 0 && m < __builtin_inff() && m > -__builtin_inff();
}

// ---------------------------------------------------------------------------------------------------------
// Softmax

void SoftmaxRow(const float* x, float* y, size_t classes, float* scratch) {
  float max;
  if (!FindRowMax(nullptr, x, classes, &max, nullptr)) {
    FillNaN(y, classes);
    return;
  }
  const __m256 m = _mm256_set1_ps(max);
  const __m256 neg_m = _mm256_set1_ps(-max);

  // Pass 2: S = sum of e^(x - max) in float64 lanes. e^(x - max) is stored in y and scaled in place by
  // pass 3, or, in streaming mode, stored in the cache-resident scratch row so that y is written only once.
  float* exp_store = scratch != nullptr ? scratch : y;
  __m256d sum0 = _mm256_setzero_pd();
  __m256d sum1 = _mm256_setzero_pd();
  __m256d sum2 = _mm256_setzero_pd();
  __m256d sum3 = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 2 * kLanes <= classes; i += 2 * kLanes) {
    const __m256 e0 = ExpShifted(_mm256_loadu_ps(x + i), m, neg_m);
    const __m256 e1 = ExpShifted(_mm256_loadu_ps(x + i + kLanes), m, neg_m);
    sum0 = _mm256_add_pd(sum0, LowToDouble(e0));
    sum1 = _mm256_add_pd(sum1, HighToDouble(e0));
    sum2 = _mm256_add_pd(sum2, LowToDouble(e1));
    sum3 = _mm256_add_pd(sum3, HighToDouble(e1));
    _mm256_storeu_ps(exp_store + i, e0);
    _mm256_storeu_ps(exp_store + i + kLanes, e1);
  }
  for (; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(mask), ExpShifted(_mm256_maskload_ps(x + i, mask), m, neg_m));
    sum0 = _mm256_add_pd(sum0, LowToDouble(e));
    sum1 = _mm256_add_pd(sum1, HighToDouble(e));
    _mm256_maskstore_ps(exp_store + i, mask, e);
  }
  const double sum = ReduceAdd(_mm256_add_pd(_mm256_add_pd(sum0, sum1), _mm256_add_pd(sum2, sum3)));
  const __m256 inverse_sum = _mm256_set1_ps(static_cast<float>(1.0 / sum));

  // Pass 3: y = e^(x - max) * (1 / S).
  if (scratch == nullptr) {
    for (i = 0; i < classes; i += kLanes) {
      const __m256i mask = ChunkMask(i, classes);
      _mm256_maskstore_ps(y + i, mask, _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), inverse_sum));
    }
    return;
  }
  const size_t head = ElementsToAlignment(y) < classes ? ElementsToAlignment(y) : classes;
  if (head != 0) {
    const __m256i mask = FirstLanes(head);
    _mm256_maskstore_ps(y, mask, _mm256_mul_ps(_mm256_maskload_ps(scratch, mask), inverse_sum));
  }
  for (i = head; i + kLanes <= classes; i += kLanes) {
    _mm256_stream_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(scratch + i), inverse_sum));
  }
  if (i < classes) {
    const __m256i mask = FirstLanes(classes - i);
    _mm256_maskstore_ps(y + i, mask, _mm256_mul_ps(_mm256_maskload_ps(scratch + i, mask), inverse_sum));
  }
}

// Row statistics of a group of up to 8 rows, one row per lane.
struct LaneGroup {
  __m256 max;      // the row maximum, NaN for rows without a softmax
  __m256 neg_max;  // -max
  __m256 invalid;  // all bits set for rows without a softmax
};

// Gathers column j of the group (entry j of each active row) into lane order.
SIMD_NN_ALWAYS_INLINE __m256 GatherColumn(const float* group, __m256i row_offsets, size_t j, __m256i active) {
  const __m256i index = _mm256_add_epi32(row_offsets, _mm256_set1_epi32(static_cast<int>(j)));
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), group, index, _mm256_castsi256_ps(active), sizeof(float));
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

// Returns, for element k0 + lane of a group laid out row after row, the lane (row) it belongs to:
// floor((k + 0.5) / classes), exact in float32 because k < 128 keeps the quotient at least 1/32 away from
// an integer.
SIMD_NN_ALWAYS_INLINE __m256i RowOfElements(size_t k0, __m256 inverse_classes) {
  const __m256 k = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(k0)), LaneIndices()));
  return _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_add_ps(k, _mm256_set1_ps(0.5f)), inverse_classes));
}

void SoftmaxLanes(const float* x, float* y, size_t rows, size_t classes) {
  const __m256i row_offsets = _mm256_mullo_epi32(LaneIndices(), _mm256_set1_epi32(static_cast<int>(classes)));
  const __m256 inverse_classes = _mm256_set1_ps(1.0f / static_cast<float>(classes));
  __m256 columns[kMaxLanesModeClasses];

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const __m256i active = FirstLanes(group_rows);
    const float* gx = x + r0 * classes;
    float* gy = y + r0 * classes;

    // All gathers happen before the first store, so y may be exactly x.
    for (size_t j = 0; j < classes; ++j) {
      columns[j] = GatherColumn(gx, row_offsets, j, active);
    }
    const LaneGroup group = ReduceColumns(columns, classes);
    __m256d sum_low = _mm256_setzero_pd();
    __m256d sum_high = _mm256_setzero_pd();
    for (size_t j = 0; j < classes; ++j) {
      const __m256 e = ExpShifted(columns[j], group.max, group.neg_max);
      sum_low = _mm256_add_pd(sum_low, LowToDouble(e));
      sum_high = _mm256_add_pd(sum_high, HighToDouble(e));
    }
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256 inverse_sum = JoinToFloat(_mm256_div_pd(one, sum_low), _mm256_div_pd(one, sum_high));

    // Natural layout: recompute e^(x - max) with the same operations and scale it.
    const size_t elements = group_rows * classes;
    for (size_t k0 = 0; k0 < elements; k0 += kLanes) {
      const __m256i mask = ChunkMask(k0, elements);
      const __m256i row = RowOfElements(k0, inverse_classes);
      const __m256 m = _mm256_permutevar8x32_ps(group.max, row);
      const __m256 neg_m = _mm256_permutevar8x32_ps(group.neg_max, row);
      const __m256 e = ExpShifted(_mm256_maskload_ps(gx + k0, mask), m, neg_m);
      _mm256_maskstore_ps(gy + k0, mask, _mm256_mul_ps(e, _mm256_permutevar8x32_ps(inverse_sum, row)));
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

// Returns S', the sum of e^(x - max) over the entries below the maximum, with each term in float64.
double RestSumInDouble(const float* x, size_t classes, __m256 m, __m256 neg_m) {
  __m256d low_sum = _mm256_setzero_pd();
  __m256d high_sum = _mm256_setzero_pd();
  for (size_t i = 0; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    const __m256 below_max = _mm256_andnot_ps(_mm256_cmp_ps(v, m, _CMP_EQ_OQ), _mm256_castsi256_ps(mask));
    __m256d low;
    __m256d high;
    ExpShiftedInDouble(v, m, neg_m, below_max, &low, &high);
    low_sum = _mm256_add_pd(low_sum, low);
    high_sum = _mm256_add_pd(high_sum, high);
  }
  return ReduceAdd(_mm256_add_pd(low_sum, high_sum));
}

// Computes one row's statistics and, when grad is not null, its gradient e^(x - max) / S - z. grad may be
// exactly x. With a scratch row (streaming mode), e^(x - max) waits there instead of in grad, and grad is
// written once, with non-temporal stores.
XentRowStats XentRow(const float* z, const float* x, float* grad, size_t classes, float* scratch) {
  const double nan = __builtin_nan("");
  float max;
  double label_sum = 0.0;
  if (!FindRowMax(z, x, classes, &max, &label_sum)) {
    if (grad != nullptr) {
      FillNaN(grad, classes);
    }
    return XentRowStats{nan, nan, nan};
  }
  const __m256 m = _mm256_set1_ps(max);
  const __m256 neg_m = _mm256_set1_ps(-max);
  const __m256d m_double = _mm256_set1_pd(max);

  // Pass 2. Entries equal to the maximum contribute exactly 1 each and are counted apart, so that the sum
  // below the maximum (S') keeps its value for log1p when one class dominates.
  __m256d rest_low = _mm256_setzero_pd();
  __m256d rest_high = _mm256_setzero_pd();
  __m256d shift_low = _mm256_setzero_pd();
  __m256d shift_high = _mm256_setzero_pd();
  size_t max_count = 0;
  size_t max_position = 0;
  float* exp_store = grad == nullptr ? nullptr : (scratch != nullptr ? scratch : grad);
  for (size_t i = 0; i < classes; i += kLanes) {
    const __m256i mask = ChunkMask(i, classes);
    const __m256 lanes = _mm256_castsi256_ps(mask);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    const __m256 w = _mm256_maskload_ps(z + i, mask);
    const __m256 e = ExpShifted(v, m, neg_m);

    const __m256 at_max = _mm256_and_ps(lanes, _mm256_cmp_ps(v, m, _CMP_EQ_OQ));
    const __m256 below_max = _mm256_andnot_ps(at_max, lanes);
    rest_low = _mm256_add_pd(rest_low, _mm256_and_pd(LowMaskToDouble(below_max), LowToDouble(e)));
    rest_high = _mm256_add_pd(rest_high, _mm256_and_pd(HighMaskToDouble(below_max), HighToDouble(e)));
    const unsigned at_max_bits = static_cast<unsigned>(_mm256_movemask_ps(at_max));
    if (at_max_bits != 0) {
      max_count += static_cast<size_t>(__builtin_popcount(at_max_bits));
      max_position = i + static_cast<size_t>(__builtin_ctz(at_max_bits));
    }

    // A label of exactly 0 contributes nothing, even where x - max is -inf; NaN labels do contribute.
    // With one-hot labels most vectors have none, and the branch skips their float64 work. Terms at the
    // maximum (x - max = 0) are left out of the weighted shift, so that an infinite label there gives
    // label_sum * log S = +-inf rather than inf * 0 = NaN.
    const __m256 labeled = _mm256_cmp_ps(w, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    if (_mm256_movemask_ps(labeled) != 0) {
      const __m256 shifted = _mm256_andnot_ps(at_max, labeled);
      const __m256d s_low = _mm256_sub_pd(LowToDouble(v), m_double);
      const __m256d s_high = _mm256_sub_pd(HighToDouble(v), m_double);
      const __m256d term_low = _mm256_mul_pd(LowToDouble(w), s_low);
      const __m256d term_high = _mm256_mul_pd(HighToDouble(w), s_high);
      shift_low = _mm256_add_pd(shift_low, _mm256_and_pd(LowMaskToDouble(shifted), term_low));
      shift_high = _mm256_add_pd(shift_high, _mm256_and_pd(HighMaskToDouble(shifted), term_high));
    }

    if (exp_store != nullptr) {
      _mm256_maskstore_ps(exp_store + i, mask, e);
    }
  }
  double rest = ReduceAdd(_mm256_add_pd(rest_low, rest_high));
  if (rest < static_cast<double>(classes) * kSubnormalTermsSum) {
    rest = RestSumInDouble(x, classes, m, neg_m);
  }
  XentRowStats stats;
  stats.log1p_argument = static_cast<double>(max_count - 1) + rest;
  stats.label_sum = label_sum;
  stats.weighted_shift = ReduceAdd(_mm256_add_pd(shift_low, shift_high));
  if (grad == nullptr) {
    return stats;
  }

  // Pass 3: grad = e * (1 / S) - z, with e stored by pass 2.
  const double sum = static_cast<double>(max_count) + rest;
  const __m256 inverse_sum = _mm256_set1_ps(static_cast<float>(1.0 / sum));
  if (scratch == nullptr) {
    for (size_t i = 0; i < classes; i += kLanes) {
      const __m256i mask = ChunkMask(i, classes);
      const __m256 e = _mm256_maskload_ps(grad + i, mask);
      _mm256_maskstore_ps(grad + i, mask, _mm256_fmsub_ps(e, inverse_sum, _mm256_maskload_ps(z + i, mask)));
    }
  } else {
    const size_t head = ElementsToAlignment(grad) < classes ? ElementsToAlignment(grad) : classes;
    size_t i = 0;
    if (head != 0) {
      const __m256i mask = FirstLanes(head);
      const __m256 e = _mm256_maskload_ps(scratch, mask);
      _mm256_maskstore_ps(grad, mask, _mm256_fmsub_ps(e, inverse_sum, _mm256_maskload_ps(z, mask)));
    }
    for (i = head; i + kLanes <= classes; i += kLanes) {
      const __m256 e = _mm256_loadu_ps(scratch + i);
      _mm256_stream_ps(grad + i, _mm256_fmsub_ps(e, inverse_sum, _mm256_loadu_ps(z + i)));
    }
    if (i < classes) {
      const __m256i mask = FirstLanes(classes - i);
      const __m256 e = _mm256_maskload_ps(scratch + i, mask);
      _mm256_maskstore_ps(grad + i, mask, _mm256_fmsub_ps(e, inverse_sum, _mm256_maskload_ps(z + i, mask)));
    }
    // Orders the non-temporal stores before the ordinary store below, which may hit the same line.
    _mm_sfence();
  }

  // A single maximum: p - z = 1 / (1 + S') - z is computed as ((1 - z) - z S') / S, which keeps the tiny
  // gradient of a dominant class instead of cancelling 1 / S against z.
  if (max_count == 1) {
    const double label = z[max_position];
    grad[max_position] = static_cast<float>(((1.0 - label) - label * rest) / sum);
  }
  return stats;
}

// Writes the losses of up to kLossBatch rows from their statistics.
void StoreLosses(const XentRowStats* stats, size_t count, float* loss) {
  double argument[kLossBatch];
  double label_sum[kLossBatch];
  double weighted_shift[kLossBatch];
  for (size_t r = 0; r < count; ++r) {
    argument[r] = stats[r].log1p_argument;
    label_sum[r] = stats[r].label_sum;
    weighted_shift[r] = stats[r].weighted_shift;
  }
  const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(count)),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
  const __m256d log_sum = Log1pPd(_mm256_maskload_pd(argument, mask));
  const __m256d row_loss =
      _mm256_fmsub_pd(_mm256_maskload_pd(label_sum, mask), log_sum, _mm256_maskload_pd(weighted_shift, mask));
  const __m128i float_mask = _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(count)), _mm_setr_epi32(0, 1, 2, 3));
  _mm_maskstore_ps(loss, float_mask, _mm256_cvtpd_ps(row_loss));
}

void XentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
              size_t classes, float* scratch) {
  XentRowStats stats[kLossBatch];
  for (size_t r0 = 0; r0 < rows; r0 += kLossBatch) {
    const size_t count = rows - r0 < kLossBatch ? rows - r0 : kLossBatch;
    for (size_t r = 0; r < count; ++r) {
      const size_t offset = (r0 + r) * classes;
      stats[r] = XentRow(labels + offset, logits + offset, backprop != nullptr ? backprop + offset : nullptr,
                         classes, scratch);
    }
    StoreLosses(stats, count, loss + r0);
  }
}

// Loss of 4 lanes in float64 from the lane statistics.
SIMD_NN_ALWAYS_INLINE __m256d LaneLoss(__m256d label_sum, __m256d weighted_shift, __m256d max_count,
                                       __m256d rest) {
  const __m256d log_sum = Log1pPd(_mm256_add_pd(_mm256_sub_pd(max_count, _mm256_set1_pd(1.0)), rest));
  return _mm256_fmsub_pd(label_sum, log_sum, weighted_shift);
}

void XentLanes(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
               size_t classes) {
  const __m256i row_offsets = _mm256_mullo_epi32(LaneIndices(), _mm256_set1_epi32(static_cast<int>(classes)));
  const __m256 inverse_classes = _mm256_set1_ps(1.0f / static_cast<float>(classes));
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 columns[kMaxLanesModeClasses];
  __m256 label_columns[kMaxLanesModeClasses];

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const __m256i active = FirstLanes(group_rows);
    const float* gx = logits + r0 * classes;
    const float* gz = labels + r0 * classes;

    for (size_t j = 0; j < classes; ++j) {
      columns[j] = GatherColumn(gx, row_offsets, j, active);
      label_columns[j] = GatherColumn(gz, row_offsets, j, active);
    }
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
    for (size_t j = 0; j < classes; ++j) {
      const __m256 v = columns[j];
      const __m256 w = label_columns[j];
      const __m256 e = ExpShifted(v, group.max, group.neg_max);
      const __m256 at_max = _mm256_cmp_ps(v, group.max, _CMP_EQ_OQ);
      max_count = _mm256_add_ps(max_count, _mm256_and_ps(at_max, one));
      rest_low = _mm256_add_pd(rest_low, _mm256_andnot_pd(LowMaskToDouble(at_max), LowToDouble(e)));
      rest_high = _mm256_add_pd(rest_high, _mm256_andnot_pd(HighMaskToDouble(at_max), HighToDouble(e)));

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

    const __m256d count_low = LowToDouble(max_count);
    const __m256d count_high = HighToDouble(max_count);
    __m256 group_loss = JoinToFloat(LaneLoss(label_low, shift_low, count_low, rest_low),
                                    LaneLoss(label_high, shift_high, count_high, rest_high));
    group_loss = _mm256_blendv_ps(group_loss, _mm256_set1_ps(__builtin_nanf("")), group.invalid);
    _mm256_maskstore_ps(loss + r0, active, group_loss);
    if (backprop == nullptr) {
      continue;
    }

    const __m256d one_double = _mm256_set1_pd(1.0);
    const __m256 inverse_sum = JoinToFloat(_mm256_div_pd(one_double, _mm256_add_pd(count_low, rest_low)),
                                           _mm256_div_pd(one_double, _mm256_add_pd(count_high, rest_high)));
    const __m256 rest = JoinToFloat(rest_low, rest_high);
    float* gg = backprop + r0 * classes;
    const size_t elements = group_rows * classes;
    for (size_t k0 = 0; k0 < elements; k0 += kLanes) {
      const __m256i mask = ChunkMask(k0, elements);
      const __m256i row = RowOfElements(k0, inverse_classes);
      const __m256 m = _mm256_permutevar8x32_ps(group.max, row);
      const __m256 row_inverse_sum = _mm256_permutevar8x32_ps(inverse_sum, row);
      const __m256 v = _mm256_maskload_ps(gx + k0, mask);
      const __m256 w = _mm256_maskload_ps(gz + k0, mask);
      const __m256 e = ExpShifted(v, m, _mm256_permutevar8x32_ps(group.neg_max, row));
      __m256 g = _mm256_fmsub_ps(e, row_inverse_sum, w);

      // A single maximum: ((1 - z) - z S') / S, as in XentRow.
      const __m256 single = _mm256_cmp_ps(_mm256_permutevar8x32_ps(max_count, row), one, _CMP_EQ_OQ);
      const __m256 dominant = _mm256_and_ps(single, _mm256_cmp_ps(v, m, _CMP_EQ_OQ));
      if (_mm256_movemask_ps(dominant) != 0) {
        const __m256 d = _mm256_fnmadd_ps(w, _mm256_permutevar8x32_ps(rest, row), _mm256_sub_ps(one, w));
        g = _mm256_blendv_ps(g, _mm256_mul_ps(d, row_inverse_sum), dominant);
      }
      _mm256_maskstore_ps(gg + k0, mask, g);
    }
  }
}

}  // namespace

void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes) {
  if (classes == 0) {
    return;
  }
  if (classes <= kMaxLanesModeClasses) {
    SoftmaxLanes(x, y, rows, classes);
    return;
  }
  alignas(64) float scratch[kScratchFloats];
  const bool streaming = classes <= kScratchFloats && rows * classes * sizeof(float) >= StreamingThresholdBytes();
  for (size_t r = 0; r < rows; ++r) {
    SoftmaxRow(x + r * classes, y + r * classes, classes, streaming ? scratch : nullptr);
  }
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
    XentLanes(labels, logits, loss, backprop, rows, classes);
    return;
  }
  alignas(64) float scratch[kScratchFloats];
  const bool streaming = backprop != nullptr && classes <= kScratchFloats &&
                         rows * classes * sizeof(float) >= StreamingThresholdBytes();
  XentRows(labels, logits, loss, backprop, rows, classes, streaming ? scratch : nullptr);
}

}  // namespace avx2
}  // namespace simd_nn
