// Exact label sums for cross-entropy rows whose labels have both signs.
//
// Declarations only: exact_sums.cpp is compiled once, with the baseline flags, and every kernel set calls it
// (see kernel_set.h on why the per-set files must not share inline code).
#ifndef SIMD_NN_EXACT_SUMS_H_
#define SIMD_NN_EXACT_SUMS_H_

#include <cstddef>

namespace simd_nn {

// Returns whether labels[0, classes) has a non-zero label with its sign bit set: the rows whose loss terms
// z (log S - s) can cancel, and which need ExactWeightedShift.
bool HasNegativeLabel(const float* labels, size_t classes);

// Sets *weighted_shift to the sum over j of z_j (x_j - max), for the entries with z_j != 0 and x_j != max,
// formed exactly and then rounded to float64 (within 2^-52 relative), and returns true. Returns false, and
// leaves *weighted_shift alone, where one of those entries has an infinite or NaN label or logit, whose float64
// sum the callers already get right.
//
// Why exactly: with labels of both signs, the terms may cancel to a loss far below each of them, and the
// float64 difference x - max may have rounded. Labels [1e30, -1e30] on logits [-1, -2] beside a logit of 3e38
// give a loss of -1e30, but x - max is -3e38 in float64 for both, and the terms cancelled to 0. Each product of
// two float32 values is exact as an integer times 2^-298, so the sum of z x - z max over a row fits a
// fixed-point accumulator of about 600 bits.
bool ExactWeightedShift(const float* labels, const float* logits, size_t classes, float max, double* weighted_shift);

}  // namespace simd_nn

#endif  // SIMD_NN_EXACT_SUMS_H_
