// Row-wise operations on tensors of any rank and class axis, built on the contiguous-row kernels.
#ifndef SIMD_NN_OPS_H_
#define SIMD_NN_OPS_H_

#include <cstddef>

#include "kernels/kernel_set.h"

namespace simd_nn {

// A tensor seen as rows x classes along its class axis. For shape [d0, ..., dk, ..., dn] with class axis k:
// classes = dk, inner = d(k+1) * ... * dn, rows = (d0 * ... * d(k-1)) * inner, and element (r, j) sits at
// (r / inner) * classes * inner + r % inner + j * inner. inner is 1 when the class axis is the last one.
struct RowLayout {
  size_t rows;
  size_t classes;
  size_t inner;
};

// A read-only tensor and its layout. In a cross-entropy, rows == 1 or classes == 1 broadcasts that dimension.
struct RowView {
  const float* data;
  RowLayout layout;
};

// Returns true when the layout is self-consistent: inner >= 1 divides rows, and rows * classes does not
// overflow and equals `length`.
bool IsValidLayout(const RowLayout& layout, size_t length);

// Softmax along the class axis. y has x's layout and may be exactly x.
void Softmax(const KernelSet& kernels, const float* x, float* y, const RowLayout& layout);

// Fused softmax cross-entropy of labels and logits that broadcast to rows x classes. loss receives one value
// per row. backprop, when not null, is written in `backprop_layout` (rows x classes) and may be exactly the
// logits when nothing broadcasts and the layouts agree.
void SoftmaxCrossEntropy(const KernelSet& kernels, const RowView& labels, const RowView& logits, size_t rows,
                         size_t classes, float* loss, float* backprop, const RowLayout& backprop_layout);

// Sparse softmax cross-entropy: rows x classes logits (dense, class axis last) and one class id per row in
// `labels`, int32 elements read as bytes. The result is that of SoftmaxCrossEntropy with one-hot labels, bit for
// bit: rows are run through the dense kernel in blocks, against a one-hot block of labels. The ids must be in
// [0, classes); the binding checks them first. An id found out of range here, which only another thread writing
// shared memory can cause, gives that row a NaN loss and gradient and is never used as an index. backprop, when
// not null, is rows x classes and may be exactly the logits.
void SparseSoftmaxCrossEntropy(const KernelSet& kernels, const void* labels, const float* logits, size_t rows,
                               size_t classes, float* loss, float* backprop);

// L2 normalization along the class axis: y = x / sqrt(max(sum of x^2, epsilon)) per row, the sum in float64
// (KernelSet::sum_squares) and each quotient rounded once to float32. A row with one infinite entry gives
// its limit, +-1 there and +-0 elsewhere. A row with NaN, or with two or more infinite entries, gives NaN.
// y has x's layout and may be exactly x.
void L2Normalize(const KernelSet& kernels, const float* x, float* y, const RowLayout& layout, double epsilon);

}  // namespace simd_nn

#endif  // SIMD_NN_OPS_H_
