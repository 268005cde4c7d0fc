#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace simd_nn {
namespace {

// Rows are gathered into blocks of about this many floats per array, so that a block of labels, logits and
// gradient stays in L1/L2 while the kernel runs over it.
constexpr size_t kBlockFloats = 8192;

size_t BlockRows(size_t classes) { return std::max<size_t>(1, kBlockFloats / std::max<size_t>(classes, 1)); }

size_t Offset(const RowLayout& layout, size_t row, size_t cls) {
  const size_t outer = row / layout.inner;
  const size_t inner = row % layout.inner;
  return outer * layout.classes * layout.inner + inner + cls * layout.inner;
}

// Copies rows [first, first + count) of a view, broadcast to `classes`, into a dense count x classes block.
void GatherRows(const RowView& view, size_t first, size_t count, size_t classes, float* block) {
  const bool broadcast_rows = view.layout.rows == 1;
  const bool broadcast_classes = view.layout.classes == 1;
  for (size_t b = 0; b < count; ++b) {
    const size_t row = broadcast_rows ? 0 : first + b;
    float* out = block + b * classes;
    for (size_t j = 0; j < classes; ++j) {
      out[j] = view.data[Offset(view.layout, row, broadcast_classes ? 0 : j)];
    }
  }
}

void ScatterRows(const float* block, size_t first, size_t count, float* data, const RowLayout& layout) {
  for (size_t b = 0; b < count; ++b) {
    const float* in = block + b * layout.classes;
    for (size_t j = 0; j < layout.classes; ++j) {
      data[Offset(layout, first + b, j)] = in[j];
    }
  }
}

// Runs dense_rows(in, out, count), which maps `count` dense rows of layout.classes from in to out, over all rows
// of x into y. A non-last class axis gathers blocks of strided rows, runs dense_rows on each block in place and
// scatters the result. Each block is read completely before it is written, so y may be exactly x.
template <typename DenseRows>
void MapRows(const float* x, float* y, const RowLayout& layout, DenseRows dense_rows) {
  if (layout.rows == 0 || layout.classes == 0) {
    return;
  }
  if (layout.inner == 1) {
    dense_rows(x, y, layout.rows);
    return;
  }

  const size_t block_rows = std::min(layout.rows, BlockRows(layout.classes));
  std::vector<float> block(block_rows * layout.classes);
  const RowView view{x, layout};
  for (size_t first = 0; first < layout.rows; first += block_rows) {
    const size_t count = std::min(block_rows, layout.rows - first);
    GatherRows(view, first, count, layout.classes, block.data());
    dense_rows(block.data(), block.data(), count);
    ScatterRows(block.data(), first, count, y, layout);
  }
}

bool IsDense(const RowLayout& layout, size_t rows, size_t classes) {
  return layout.inner == 1 && layout.rows == rows && layout.classes == classes;
}

}  // namespace

bool IsValidLayout(const RowLayout& layout, size_t length) {
  if (layout.inner == 0 || layout.rows % layout.inner != 0) {
    return false;
  }
  if (layout.classes != 0 && layout.rows > static_cast<size_t>(-1) / layout.classes) {
    return false;
  }
  return layout.rows * layout.classes == length;
}

void Softmax(const KernelSet& kernels, const float* x, float* y, const RowLayout& layout) {
  MapRows(x, y, layout, [&](const float* in, float* out, size_t rows) {
    kernels.softmax_rows(in, out, rows, layout.classes);
  });
}

void SoftmaxCrossEntropy(const KernelSet& kernels, const RowView& labels, const RowView& logits, size_t rows,
                         size_t classes, float* loss, float* backprop, const RowLayout& backprop_layout) {
  if (rows == 0) {
    return;
  }

  const bool dense = IsDense(labels.layout, rows, classes) && IsDense(logits.layout, rows, classes) &&
                     (backprop == nullptr || IsDense(backprop_layout, rows, classes));
  if (dense) {
    kernels.softmax_xent_rows(labels.data, logits.data, loss, backprop, rows, classes);
    return;
  }

  // Broadcast or strided operands: gather dense blocks, run the dense kernel, scatter the gradient. A block's
  // logits are read before its gradient is written, so backprop may be exactly the logits.
  const size_t block_rows = std::min(rows, BlockRows(classes));
  const size_t block_floats = block_rows * classes;
  std::vector<float> scratch(block_floats * (backprop != nullptr ? 3 : 2));
  float* label_block = scratch.data();
  float* logit_block = label_block + block_floats;
  float* grad_block = backprop != nullptr ? logit_block + block_floats : nullptr;

  for (size_t first = 0; first < rows; first += block_rows) {
    const size_t count = std::min(block_rows, rows - first);
    GatherRows(labels, first, count, classes, label_block);
    GatherRows(logits, first, count, classes, logit_block);
    kernels.softmax_xent_rows(label_block, logit_block, loss + first, grad_block, count, classes);
    if (grad_block != nullptr) {
      ScatterRows(grad_block, first, count, backprop, backprop_layout);
    }
  }
}

namespace {

// Normalizes one dense row of `classes` entries from x into y (see L2Normalize). y may be exactly x: every
// entry is read before it is written.
void L2NormalizeRow(const KernelSet& kernels, const float* x, float* y, size_t classes, double epsilon) {
  const double sum = kernels.sum_squares(x, classes);
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

  // Finite float32 squares cannot overflow a float64 sum, so an infinite sum means an infinite entry.
  if (sum == std::numeric_limits<double>::infinity()) {
    size_t infinite = 0;
    for (size_t j = 0; j < classes; ++j) {
      infinite += std::isinf(x[j]) ? 1 : 0;
    }
    for (size_t j = 0; j < classes; ++j) {
      const float v = x[j];
      y[j] = infinite > 1 ? kNaN : std::isinf(v) ? std::copysign(1.0f, v) : std::copysign(0.0f, v);
    }
    return;
  }

  // max(sum, epsilon) that keeps a NaN sum, which then makes the whole row NaN.
  const double bounded = sum < epsilon ? epsilon : sum;
  const double inverse = 1.0 / std::sqrt(bounded);
  for (size_t j = 0; j < classes; ++j) {
    y[j] = static_cast<float>(static_cast<double>(x[j]) * inverse);
  }
}

}  // namespace

void L2Normalize(const KernelSet& kernels, const float* x, float* y, const RowLayout& layout, double epsilon) {
  const size_t classes = layout.classes;
  MapRows(x, y, layout, [&](const float* in, float* out, size_t rows) {
    for (size_t r = 0; r < rows; ++r) {
      L2NormalizeRow(kernels, in + r * classes, out + r * classes, classes, epsilon);
    }
  });
}

void SparseSoftmaxCrossEntropy(const KernelSet& kernels, const void* labels, const float* logits, size_t rows,
                               size_t classes, float* loss, float* backprop) {
  if (rows == 0) {
    return;
  }

  // NOTE: each call makes two heap allocations here, which a call of one short row pays for in full. Stack
  // storage for small blocks was not tried.
  const size_t block_rows = std::min(rows, BlockRows(classes));
  std::vector<float> one_hot(block_rows * classes, 0.0f);
  // The class of each row of the block, or -1 for an id out of range.
  std::vector<int64_t> block_classes(block_rows);
  const unsigned char* label_bytes = static_cast<const unsigned char*>(labels);

  for (size_t first = 0; first < rows; first += block_rows) {
    const size_t count = std::min(block_rows, rows - first);

    // Each id is read once, so the index that is checked is the one that is used.
    for (size_t b = 0; b < count; ++b) {
      int32_t label = 0;
      std::memcpy(&label, label_bytes + (first + b) * sizeof(int32_t), sizeof(int32_t));
      const bool in_range = label >= 0 && static_cast<size_t>(label) < classes;
      block_classes[b] = in_range ? label : -1;
      if (in_range) {
        one_hot[b * classes + static_cast<size_t>(label)] = 1.0f;
      }
    }

    float* block_backprop = backprop != nullptr ? backprop + first * classes : nullptr;
    kernels.softmax_xent_rows(one_hot.data(), logits + first * classes, loss + first, block_backprop, count,
                              classes);

    for (size_t b = 0; b < count; ++b) {
      if (block_classes[b] >= 0) {
        one_hot[b * classes + static_cast<size_t>(block_classes[b])] = 0.0f;
        continue;
      }
      constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
      loss[first + b] = kNaN;
      if (block_backprop != nullptr) {
        std::fill(block_backprop + b * classes, block_backprop + (b + 1) * classes, kNaN);
      }
    }
  }
}

}  // namespace simd_nn
