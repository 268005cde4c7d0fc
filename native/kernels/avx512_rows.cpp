// AVX-512 row kernels: softmax and fused softmax cross-entropy over dense rows x classes matrices.
//
// Rows of more than 16 classes are vectorized within the row: one pass finds the maximum, a second computes
// e^(x - max) and the sums (float64 lanes), and a third writes the output. The second and third passes
// re-read the row from cache, so each input row is read from memory once. Rows of up to 16 classes are
// vectorized across rows instead: lane r holds row r of a group of 16, its entries are gathered, and the
// output is written in the natural layout with each lane's statistics broadcast to its row's elements.
//
// NOTE: with 1000 classes in cache these kernels take about 9x (softmax) and 12x (cross-entropy) the time of
// a copy on AMD Zen 5 (tools/quickbench.mjs), against a 5x goal. ExpShifted (TwoSum plus exp, about 25
// vector operations per 16 elements) dominates; the block-staging that sped up sigmoid is not applied here.
#include "avx512_math.h"
#include "kernel_set.h"

namespace simd_nn {
namespace avx512 {
namespace {

constexpr size_t kMaxLanesModeClasses = 16;

// Rows of up to this many classes keep e^(x - max) in a 16 KiB stack buffer, which stays in L1, when the
// output is large enough for non-temporal stores. Longer rows use ordinary stores.
constexpr size_t kScratchFloats = 4096;

// Statistics of one cross-entropy row, enough for its loss: loss = label_sum * log1p(log1p_argument) -
// weighted_shift, where weighted_shift = sum over labels z != 0 of z * (x - max).
struct XentRowStats {
  double log1p_argument;  // S - 1 = (entries at the maximum - 1) + sum of e^(x - max) below it; NaN if invalid
  double label_sum;
  double weighted_shift;
};

SIMD_NN_ALWAYS_INLINE __m512i LaneIndices() {
  return _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
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
// Softmax

void SoftmaxRow(const float* x, float* y, size_t classes, float* scratch) {
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
  const __m512 inverse_sum = _mm512_set1_ps(static_cast<float>(1.0 / sum));

  // Pass 3: y = e^(x - max) * (1 / S).
  if (scratch == nullptr) {
    for (i = 0; i < classes; i += kLanes) {
      const __mmask16 mask = ChunkMask(i, classes);
      _mm512_mask_storeu_ps(y + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, y + i), inverse_sum));
    }
    return;
  }
  const size_t head = ElementsToAlignment(y) < classes ? ElementsToAlignment(y) : classes;
  if (head != 0) {
    const __mmask16 mask = FirstLanes(head);
    _mm512_mask_storeu_ps(y, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, scratch), inverse_sum));
  }
  for (i = head; i + kLanes <= classes; i += kLanes) {
    _mm512_stream_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(scratch + i), inverse_sum));
  }
  if (i < classes) {
    const __mmask16 mask = FirstLanes(classes - i);
    _mm512_mask_storeu_ps(y + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, scratch + i), inverse_sum));
  }
}

// Row statistics of a group of up to 16 rows, one row per lane.
struct LaneGroup {
  __m512 max;      // the row maximum, NaN for rows without a softmax
  __m512 neg_max;  // -max
  __mmask16 invalid;
};

// Gathers column j of the group (entry j of each active row) into lane order.
SIMD_NN_ALWAYS_INLINE __m512 GatherColumn(const float* group, __m512i row_offsets, size_t j, __mmask16 active) {
  const __m512i index = _mm512_add_epi32(row_offsets, _mm512_set1_epi32(static_cast<int>(j)));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), active, index, group, sizeof(float));
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

// Returns, for element k0 + lane of a group laid out row after row, the lane (row) it belongs to:
// floor((k + 0.5) / classes), exact in float32 because k < 256 keeps the quotient at least 1/32 away from
// an integer.
SIMD_NN_ALWAYS_INLINE __m512i RowOfElements(size_t k0, __m512 inverse_classes) {
  const __m512 k = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(k0)), LaneIndices()));
  return _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_add_ps(k, _mm512_set1_ps(0.5f)), inverse_classes));
}

void SoftmaxLanes(const float* x, float* y, size_t rows, size_t classes) {
  const __m512i row_offsets = _mm512_mullo_epi32(LaneIndices(), _mm512_set1_epi32(static_cast<int>(classes)));
  const __m512 inverse_classes = _mm512_set1_ps(1.0f / static_cast<float>(classes));
  __m512 columns[kMaxLanesModeClasses];

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const __mmask16 active = ChunkMask(0, group_rows);
    const float* gx = x + r0 * classes;
    float* gy = y + r0 * classes;

    // All gathers happen before the first store, so y may be exactly x.
    for (size_t j = 0; j < classes; ++j) {
      columns[j] = GatherColumn(gx, row_offsets, j, active);
    }
    const LaneGroup group = ReduceColumns(columns, classes);
    __m512d sum_low = _mm512_setzero_pd();
    __m512d sum_high = _mm512_setzero_pd();
    for (size_t j = 0; j < classes; ++j) {
      const __m512 e = ExpShifted(columns[j], group.max, group.neg_max);
      sum_low = _mm512_add_pd(sum_low, LowToDouble(e));
      sum_high = _mm512_add_pd(sum_high, HighToDouble(e));
    }
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512 inverse_sum = JoinToFloat(_mm512_div_pd(one, sum_low), _mm512_div_pd(one, sum_high));

    // Natural layout: recompute e^(x - max) with the same operations and scale it.
    const size_t elements = group_rows * classes;
    for (size_t k0 = 0; k0 < elements; k0 += kLanes) {
      const __mmask16 mask = ChunkMask(k0, elements);
      const __m512i row = RowOfElements(k0, inverse_classes);
      const __m512 m = _mm512_permutexvar_ps(row, group.max);
      const __m512 neg_m = _mm512_permutexvar_ps(row, group.neg_max);
      const __m512 e = ExpShifted(_mm512_maskz_loadu_ps(mask, gx + k0), m, neg_m);
      const __m512 y_row = _mm512_mul_ps(e, _mm512_permutexvar_ps(row, inverse_sum));
      // Rows without a softmax have a NaN maximum: their elements become NaN.
      _mm512_mask_storeu_ps(gy + k0, mask, PropagateNaN(m, y_row));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Softmax cross-entropy

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
  const __m512 m = _mm512_set1_ps(max);
  const __m512 neg_m = _mm512_set1_ps(-max);
  const __m512d m_double = _mm512_set1_pd(max);

  // Pass 2. Entries equal to the maximum contribute exactly 1 each and are counted apart, so that the sum
  // below the maximum (S') keeps its value for log1p when one class dominates.
  __m512d rest_low = _mm512_setzero_pd();
  __m512d rest_high = _mm512_setzero_pd();
  __m512d shift_low = _mm512_setzero_pd();
  __m512d shift_high = _mm512_setzero_pd();
  size_t max_count = 0;
  size_t max_position = 0;
  float* exp_store = grad == nullptr ? nullptr : (scratch != nullptr ? scratch : grad);
  for (size_t i = 0; i < classes; i += kLanes) {
    const __mmask16 mask = ChunkMask(i, classes);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    const __m512 w = _mm512_maskz_loadu_ps(mask, z + i);
    const __m512 e = ExpShifted(v, m, neg_m);

    const __mmask16 at_max = _mm512_mask_cmp_ps_mask(mask, v, m, _CMP_EQ_OQ);
    const __mmask16 below_max = mask & static_cast<__mmask16>(~at_max);
    rest_low = _mm512_mask_add_pd(rest_low, static_cast<__mmask8>(below_max), rest_low, LowToDouble(e));
    rest_high = _mm512_mask_add_pd(rest_high, static_cast<__mmask8>(below_max >> 8), rest_high, HighToDouble(e));
    if (at_max != 0) {
      max_count += static_cast<size_t>(__builtin_popcount(at_max));
      max_position = i + static_cast<size_t>(__builtin_ctz(at_max));
    }

    // A label of exactly 0 contributes nothing, even where x - max is -inf; NaN labels do contribute.
    // With one-hot labels most vectors have none, and the branch skips their float64 work.
    const __mmask16 labeled = _mm512_cmp_ps_mask(w, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (labeled != 0) {
      const __m512d s_low = _mm512_maskz_sub_pd(static_cast<__mmask8>(labeled), LowToDouble(v), m_double);
      const __m512d s_high = _mm512_maskz_sub_pd(static_cast<__mmask8>(labeled >> 8), HighToDouble(v), m_double);
      shift_low = _mm512_fmadd_pd(LowToDouble(w), s_low, shift_low);
      shift_high = _mm512_fmadd_pd(HighToDouble(w), s_high, shift_high);
    }

    if (exp_store != nullptr) {
      _mm512_mask_storeu_ps(exp_store + i, mask, e);
    }
  }
  const double rest = _mm512_reduce_add_pd(_mm512_add_pd(rest_low, rest_high));
  XentRowStats stats;
  stats.log1p_argument = static_cast<double>(max_count - 1) + rest;
  stats.label_sum = label_sum;
  stats.weighted_shift = _mm512_reduce_add_pd(_mm512_add_pd(shift_low, shift_high));
  if (grad == nullptr) {
    return stats;
  }

  // Pass 3: grad = e * (1 / S) - z, with e stored by pass 2.
  const double sum = static_cast<double>(max_count) + rest;
  const __m512 inverse_sum = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  if (scratch == nullptr) {
    for (size_t i = 0; i < classes; i += kLanes) {
      const __mmask16 mask = ChunkMask(i, classes);
      const __m512 e = _mm512_maskz_loadu_ps(mask, grad + i);
      _mm512_mask_storeu_ps(grad + i, mask, _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, z + i)));
    }
  } else {
    const size_t head = ElementsToAlignment(grad) < classes ? ElementsToAlignment(grad) : classes;
    size_t i = 0;
    if (head != 0) {
      const __mmask16 mask = FirstLanes(head);
      const __m512 e = _mm512_maskz_loadu_ps(mask, scratch);
      _mm512_mask_storeu_ps(grad, mask, _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, z)));
    }
    for (i = head; i + kLanes <= classes; i += kLanes) {
      const __m512 e = _mm512_loadu_ps(scratch + i);
      _mm512_stream_ps(grad + i, _mm512_fmsub_ps(e, inverse_sum, _mm512_loadu_ps(z + i)));
    }
    if (i < classes) {
      const __mmask16 mask = FirstLanes(classes - i);
      const __m512 e = _mm512_maskz_loadu_ps(mask, scratch + i);
      _mm512_mask_storeu_ps(grad + i, mask, _mm512_fmsub_ps(e, inverse_sum, _mm512_maskz_loadu_ps(mask, z + i)));
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

// Writes the losses of up to 8 rows from their statistics.
void StoreLosses(const XentRowStats* stats, size_t count, float* loss) {
  double argument[8];
  double label_sum[8];
  double weighted_shift[8];
  for (size_t r = 0; r < count; ++r) {
    argument[r] = stats[r].log1p_argument;
    label_sum[r] = stats[r].label_sum;
    weighted_shift[r] = stats[r].weighted_shift;
  }
  const __mmask8 mask = static_cast<__mmask8>((1u << count) - 1u);
  const __m512d log_sum = Log1pPd(_mm512_maskz_loadu_pd(mask, argument));
  const __m512d row_loss = _mm512_fmsub_pd(_mm512_maskz_loadu_pd(mask, label_sum), log_sum,
                                           _mm512_maskz_loadu_pd(mask, weighted_shift));
  _mm256_mask_storeu_ps(loss, mask, _mm512_cvtpd_ps(row_loss));
}

void XentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
              size_t classes, float* scratch) {
  XentRowStats stats[8];
  for (size_t r0 = 0; r0 < rows; r0 += 8) {
    const size_t count = rows - r0 < 8 ? rows - r0 : 8;
    for (size_t r = 0; r < count; ++r) {
      const size_t offset = (r0 + r) * classes;
      stats[r] = XentRow(labels + offset, logits + offset, backprop != nullptr ? backprop + offset : nullptr,
                         classes, scratch);
    }
    StoreLosses(stats, count, loss + r0);
  }
}

// Loss (and gradient) of 8 lanes in float64 from the lane statistics.
SIMD_NN_ALWAYS_INLINE __m512d LaneLoss(__m512d label_sum, __m512d weighted_shift, __m512d max_count,
                                       __m512d rest) {
  const __m512d log_sum = Log1pPd(_mm512_add_pd(_mm512_sub_pd(max_count, _mm512_set1_pd(1.0)), rest));
  return _mm512_fmsub_pd(label_sum, log_sum, weighted_shift);
}

void XentLanes(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
               size_t classes) {
  const __m512i row_offsets = _mm512_mullo_epi32(LaneIndices(), _mm512_set1_epi32(static_cast<int>(classes)));
  const __m512 inverse_classes = _mm512_set1_ps(1.0f / static_cast<float>(classes));
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 columns[kMaxLanesModeClasses];
  __m512 label_columns[kMaxLanesModeClasses];

  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t group_rows = rows - r0 < kLanes ? rows - r0 : kLanes;
    const __mmask16 active = ChunkMask(0, group_rows);
    const float* gx = logits + r0 * classes;
    const float* gz = labels + r0 * classes;

    for (size_t j = 0; j < classes; ++j) {
      columns[j] = GatherColumn(gx, row_offsets, j, active);
      label_columns[j] = GatherColumn(gz, row_offsets, j, active);
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
    for (size_t j = 0; j < classes; ++j) {
      const __m512 v = columns[j];
      const __m512 w = label_columns[j];
      const __m512 e = ExpShifted(v, group.max, group.neg_max);
      const __mmask16 at_max = _mm512_cmp_ps_mask(v, group.max, _CMP_EQ_OQ);
      max_count = _mm512_mask_add_ps(max_count, at_max, max_count, one);
      rest_low = _mm512_mask_add_pd(rest_low, static_cast<__mmask8>(~at_max), rest_low, LowToDouble(e));
      rest_high = _mm512_mask_add_pd(rest_high, static_cast<__mmask8>(~at_max >> 8), rest_high, HighToDouble(e));

      const __mmask16 labeled = _mm512_cmp_ps_mask(w, _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __m512d w_low = LowToDouble(w);
      const __m512d w_high = HighToDouble(w);
      shift_low = _mm512_fmadd_pd(w_low, _mm512_maskz_sub_pd(static_cast<__mmask8>(labeled), LowToDouble(v), max_low),
                                  shift_low);
      shift_high = _mm512_fmadd_pd(
          w_high, _mm512_maskz_sub_pd(static_cast<__mmask8>(labeled >> 8), HighToDouble(v), max_high), shift_high);
      label_low = _mm512_add_pd(label_low, w_low);
      label_high = _mm512_add_pd(label_high, w_high);
    }

    const __m512d count_low = LowToDouble(max_count);
    const __m512d count_high = HighToDouble(max_count);
    __m512 group_loss = JoinToFloat(LaneLoss(label_low, shift_low, count_low, rest_low),
                                    LaneLoss(label_high, shift_high, count_high, rest_high));
    group_loss = _mm512_mask_mov_ps(group_loss, group.invalid, _mm512_set1_ps(__builtin_nanf("")));
    _mm512_mask_storeu_ps(loss + r0, active, group_loss);
    if (backprop == nullptr) {
      continue;
    }

    const __m512d one_double = _mm512_set1_pd(1.0);
    const __m512 inverse_sum = JoinToFloat(_mm512_div_pd(one_double, _mm512_add_pd(count_low, rest_low)),
                                           _mm512_div_pd(one_double, _mm512_add_pd(count_high, rest_high)));
    const __m512 rest = JoinToFloat(rest_low, rest_high);
    float* gg = backprop + r0 * classes;
    const size_t elements = group_rows * classes;
    for (size_t k0 = 0; k0 < elements; k0 += kLanes) {
      const __mmask16 mask = ChunkMask(k0, elements);
      const __m512i row = RowOfElements(k0, inverse_classes);
      const __m512 m = _mm512_permutexvar_ps(row, group.max);
      const __m512 row_inverse_sum = _mm512_permutexvar_ps(row, inverse_sum);
      const __m512 v = _mm512_maskz_loadu_ps(mask, gx + k0);
      const __m512 w = _mm512_maskz_loadu_ps(mask, gz + k0);
      const __m512 e = ExpShifted(v, m, _mm512_permutexvar_ps(row, group.neg_max));
      __m512 g = _mm512_fmsub_ps(e, row_inverse_sum, w);

      // A single maximum: ((1 - z) - z S') / S, as in XentRow.
      const __mmask16 single = _mm512_cmp_ps_mask(_mm512_permutexvar_ps(row, max_count), one, _CMP_EQ_OQ);
      const __mmask16 dominant = _mm512_mask_cmp_ps_mask(single, v, m, _CMP_EQ_OQ);
      if (dominant != 0) {
        const __m512 d = _mm512_fnmadd_ps(w, _mm512_permutexvar_ps(row, rest), _mm512_sub_ps(one, w));
        g = _mm512_mask_mul_ps(g, dominant, d, row_inverse_sum);
      }
      _mm512_mask_storeu_ps(gg + k0, mask, PropagateNaN(m, g));
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

}  // namespace avx512
}  // namespace simd_nn
