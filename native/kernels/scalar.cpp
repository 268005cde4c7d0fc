// Portable kernel set: plain C++ compiled for the baseline of the target (SSE2 on x86-64), used on CPUs
// without AVX2 and as the fallback everywhere else. Each kernel computes in float64 and rounds once to
// float32, so its results are within 1 ulp of the correctly rounded value. Speed is secondary here.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "exact_sums.h"
#include "kernel_set.h"

namespace simd_nn {
namespace scalar {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Selects on the bit pattern: the encodings from 0x80000001 (-denorm_min) to 0xFF800000 (-inf) are the
// negative numbers, and they become +0. NaN of either sign passes through, and so does -0, whose sign relu
// leaves unspecified. A float comparison here compiled to a branch (GCC 12), which random signs mispredict half
// the time: about 3 ns per element. The integer select has no branch, and the compiler vectorizes the loop.
// y may be exactly x, which leaves no dependence between iterations (ivdep).
void Relu(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof(bits));
    const uint32_t result = bits - 0x80000001u < 0x7F800000u ? 0u : bits;
    std::memcpy(y + i, &result, sizeof(result));
  }
}

// Returns 1 / (1 + e^-x) in float64. Evaluating e^-|x| keeps the exponential in (0, 1].
double SigmoidF64(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

void Sigmoid(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(SigmoidF64(x[i]));
  }
}

void Tanh(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(std::tanh(static_cast<double>(x[i])));
  }
}

void Exp(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(std::exp(static_cast<double>(x[i])));
  }
}

// Row statistics for softmax and cross-entropy. Returns false when the row has no defined result (a NaN or
// +inf logit, or every logit -inf), and the caller then writes NaN.
struct RowStats {
  double max;
  double sum;       // S = sum_j e^(x_j - max), at least 1
  double log_sum;   // log S, from log1p(S - 1) when a single entry has the maximum
  double rest_sum;  // S - (number of entries equal to the maximum), the tail that log1p needs
  size_t max_count;
};

bool ComputeRowStats(const float* x, size_t classes, RowStats* stats) {
  double max = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < classes; ++j) {
    const double v = x[j];
    if (v != v || v == std::numeric_limits<double>::infinity()) {
      return false;
    }
    if (v > max) {
      max = v;
    }
  }
  if (max == -std::numeric_limits<double>::infinity()) {
    return false;
  }

  // The entries equal to the maximum contribute exactly 1 each. Summing them apart from the rest keeps S - 1
  // exact for log1p when one class dominates.
  size_t max_count = 0;
  double rest_sum = 0.0;
  bool finite_below = false;
  for (size_t j = 0; j < classes; ++j) {
    const double v = x[j];
    if (v == max) {
      ++max_count;
    } else {
      rest_sum += std::exp(v - max);
      finite_below = finite_below || v != -std::numeric_limits<double>::infinity();
    }
  }
  // Every term may underflow (x - max below about -745) while an entry below the maximum is finite. The sum
  // is then positive all the same, and so is log S: an infinite label at the maximum gives the limits +-inf
  // rather than inf * 0 = NaN. 2^-1000 takes its place, as in the SIMD sets.
  if (rest_sum == 0.0 && finite_below) {
    rest_sum = 0x1p-1000;
  }

  stats->max = max;
  stats->max_count = max_count;
  stats->rest_sum = rest_sum;
  stats->sum = static_cast<double>(max_count) + rest_sum;
  stats->log_sum = max_count == 1 ? std::log1p(rest_sum) : std::log(stats->sum);
  return true;
}

void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * classes;
    float* out = y + r * classes;

    RowStats stats;
    if (!ComputeRowStats(row, classes, &stats)) {
      for (size_t j = 0; j < classes; ++j) {
        out[j] = kNaN;
      }
      continue;
    }

    const double inverse_sum = 1.0 / stats.sum;
    for (size_t j = 0; j < classes; ++j) {
      out[j] = static_cast<float>(std::exp(row[j] - stats.max) * inverse_sum);
    }
  }
}

void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes) {
  for (size_t r = 0; r < rows; ++r) {
    const float* z = labels + r * classes;
    const float* x = logits + r * classes;
    float* grad = backprop != nullptr ? backprop + r * classes : nullptr;

    RowStats stats;
    if (!ComputeRowStats(x, classes, &stats)) {
      loss[r] = kNaN;
      if (grad != nullptr) {
        for (size_t j = 0; j < classes; ++j) {
          grad[j] = kNaN;
        }
      }
      continue;
    }

    // A label of exactly 0 contributes nothing, even where s_j is -inf and the product would be NaN.
    double row_loss = 0.0;
    bool negative_label = false;
    for (size_t j = 0; j < classes; ++j) {
      const double label = z[j];
      if (label != 0.0) {
        row_loss += label * (stats.log_sum - (x[j] - stats.max));
        negative_label = negative_label || label < 0.0;
      }
    }
    // Terms of both signs can cancel below the rounding of x_j - max or of the label sum (see ExactLabelSums).
    double label_sum;
    double weighted_shift;
    if (negative_label &&
        ExactLabelSums(z, x, classes, static_cast<float>(stats.max), &label_sum, &weighted_shift)) {
      row_loss = label_sum * stats.log_sum - weighted_shift;
    }
    loss[r] = static_cast<float>(row_loss);

    if (grad == nullptr) {
      continue;
    }

    // backprop may alias logits: each x[j] is read before grad[j] is written.
    const double inverse_sum = 1.0 / stats.sum;
    const bool single_max = stats.max_count == 1;
    for (size_t j = 0; j < classes; ++j) {
      const double label = z[j];
      const double s = x[j] - stats.max;
      if (single_max && s == 0.0) {
        // p - z with p = 1 / (1 + rest) is ((1 - z) - z * rest) / S: no cancellation in 1/S - 1. With rest = 0
        // (every other logit -inf), an infinite z would make z * rest NaN; the gradient is 1 - z.
        const double label_rest = stats.rest_sum > 0.0 ? label * stats.rest_sum : 0.0;
        grad[j] = static_cast<float>(((1.0 - label) - label_rest) * inverse_sum);
      } else {
        grad[j] = static_cast<float>(std::exp(s) * inverse_sum - label);
      }
    }
  }
}

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) {
    const double x = logits[i];
    const double z = labels[i];

    // At x = +-inf the formula subtracts infinities; the limit is (1 - z) * x or -z * x, and 0 where the
    // label cancels the infinite term exactly.
    if (x == kInf) {
      out[i] = z == 1.0 ? 0.0f : static_cast<float>((1.0 - z) * kInf);
      continue;
    }
    if (x == -kInf) {
      out[i] = z == 0.0 ? 0.0f : static_cast<float>(z * kInf);
      continue;
    }

    // max(x, 0) - x * z equals x * (1 - z) for x >= 0 and -x * z for x < 0.
    const double linear = x >= 0.0 ? x * (1.0 - z) : -x * z;
    out[i] = static_cast<float>(linear + std::log1p(std::exp(-std::fabs(x))));
  }
}

double SumSquares(const float* x, size_t n) {
  // Four independent accumulators hide the latency of the float64 add. Each square of a float32 is exact in
  // float64, so only the additions round.
  double sums[4] = {0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t k = 0; k < 4; ++k) {
      const double v = x[i + k];
      sums[k] += v * v;
    }
  }
  for (; i < n; ++i) {
    const double v = x[i];
    sums[0] += v * v;
  }
  return (sums[0] + sums[1]) + (sums[2] + sums[3]);
}

}  // namespace

extern const KernelSet kKernelSet = {
    "scalar", Relu, Sigmoid, Tanh, Exp, SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace scalar
}  // namespace simd_nn
