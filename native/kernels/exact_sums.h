// Exact label sums for cross-entropy rows whose labels have both signs.
//
// Declarations only: exact_sums.cpp is compiled once, with the baseline flags, and every kernel set calls it
// (see kernel_set.h on why the per-set files must not share inline code).
#ifndef SIMD_NN_EXACT_SUMS_H_
#define SIMD_NN_EXACT_SUMS_H_

#include <cstddef>

namespace simd_nn {

// Returns whether labels[0, classes) has a non-zero label with its sign bit set: the rows whose loss terms
// z (log S - s) can cancel, and which need ExactLabelSums.
bool HasNegativeLabel(const float* labels, size_t classes);

// Sets *label_sum to the sum of the labels and *weighted_shift to the sum over j of z_j (x_j - max), leaving
// out the entries with x_j = max, both formed exactly and then rounded to float64 (within 2^-52 relative), and
// returns true. Returns false, and leaves both alone, where a non-zero label or its logit is infinite or NaN:
// the callers' float64 sums already get those right.
//
// Why exactly: with labels of both signs, the terms may cancel to a loss far below each of them, and the
// float64 difference x - max may have rounded. Labels [1e30, -1e30] on logits [-1, -2] beside a logit of 3e38
// give a loss of -1e30, but x - max is -3e38 in float64 for both, and the terms cancelled to 0. The label sum
// can cancel the same way: labels [2^100, 1, -2^100] sum to 1, and to 0 in float64. A float32 value is an
// integer times 2^-149, so the product of two is an integer times 2^-298, and the sums over a row fit a
// fixed-point accumulator of about 600 bits.
bool ExactLabelSums(const float* labels, const float* logits, size_t classes, float max, double* label_sum,
                    double* weighted_shift);

// A set's loop over rows of up to 16 classes, one row per lane: writes the losses, and the gradient unless
// backprop is null, and returns whether a label has its sign bit set (-0 included).
using XentLanesFunction = bool (*)(const float* labels, const float* logits, float* loss, float* backprop,
                                   size_t rows, size_t classes);
// A set's loss of one row, from a path that calls ExactLabelSums where a label is negative.
using XentRowLossFunction = float (*)(const float* labels, const float* logits, size_t classes);

// Computes cross-entropy over rows of up to 16 classes with a set's lane loop, then computes again with
// row_loss the loss of each row with a negative label, whose label sums the lanes add up in float64.
//
// A gradient written over the logits leaves nothing to compute those losses from. So where backprop is the
// logits and a label has its sign bit set, the losses come first, from loss_only. with_gradient then writes
// its own losses to a scratch array, a chunk of rows at a time. Only in-place calls read the labels an extra
// time, to look for sign bits. The lane loops take no call themselves: a call there, even on a branch never
// taken, made the loss over 10 classes 6% slower (AMD Zen 5), because the registers were saved around it.
void XentLanesWithExactSums(XentLanesFunction loss_only, XentLanesFunction with_gradient,
                            XentRowLossFunction row_loss, const float* labels, const float* logits, float* loss,
                            float* backprop, size_t rows, size_t classes);

}  // namespace simd_nn

#endif  // SIMD_NN_EXACT_SUMS_H_
