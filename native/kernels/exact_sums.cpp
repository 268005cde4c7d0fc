// Exact label sums for cross-entropy rows whose labels have both signs (see exact_sums.h).
#include "exact_sums.h"

#include <cstdint>

// Builtins rather than <cmath> and <cstring>: an inline library function instantiated here and in a per-set
// file could be merged by the linker into the copy built with AVX-512 flags (see kernel_set.h).

namespace simd_nn {
namespace {

// A float32 value as m 2^(e - 149), with m below 2^24 and e in [0, 253]. The product of two of them is
// m1 m2 2^(e1 + e2 - 298): an integer below 2^48 at bit position e1 + e2 of a fixed-point number whose lowest
// bit is worth 2^-298.
struct Float32Parts {
  uint64_t mantissa;
  int exponent;
  bool negative;
};

Float32Parts Split(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, sizeof bits);
  const int biased = static_cast<int>((bits >> 23) & 0xFF);
  Float32Parts parts;
  parts.mantissa = bits & 0x7FFFFF;
  if (biased != 0) {
    parts.mantissa |= 0x800000;
  }
  parts.exponent = biased == 0 ? 0 : biased - 1;
  parts.negative = (bits >> 31) != 0;
  return parts;
}

// A fixed-point sum with 32 bits in each signed 64-bit limb, so that terms add without carrying. Limb i
// contains bits 32 i to 32 i + 31 of the sum (bit 0 worth 2^-298). Products reach bit 48 + 2 * 253 = 554; 20 limbs
// (640 bits) leave room for the sum of 2^32 of them, and Normalize runs often enough to keep the limbs far
// from overflowing.
class FixedPointSum {
 public:
  void Add(const Float32Parts& a, const Float32Parts& b) {
    const uint64_t product = a.mantissa * b.mantissa;
    if (product == 0) {
      return;
    }
    const int position = a.exponent + b.exponent;
    const int limb = position >> 5;
    const int shift = position & 31;
    // Below 2^63 and 2^48: neither shift overflows.
    const uint64_t low = (product & 0xFFFFFFFFu) << shift;
    const uint64_t high = (product >> 32) << shift;
    const int64_t parts[3] = {static_cast<int64_t>(low & 0xFFFFFFFFu),
                              static_cast<int64_t>((low >> 32) + (high & 0xFFFFFFFFu)),
                              static_cast<int64_t>(high >> 32)};
    const bool negative = a.negative != b.negative;
    for (int k = 0; k < 3; ++k) {
      limbs_[limb + k] += negative ? -parts[k] : parts[k];
    }
    if (++terms_ == kTermsBetweenCarries) {
      Normalize();
    }
  }

  // Rounds the sum to float64, within 2^-52 relative.
  double ToDouble() {
    Normalize();
    bool negative = limbs_[kLimbs - 1] < 0;
    if (negative) {
      for (int64_t& limb : limbs_) {
        limb = -limb;
      }
      Normalize();
    }
    int top = kLimbs - 1;
    while (top >= 0 && limbs_[top] == 0) {
      --top;
    }
    if (top < 0) {
      return 0.0;
    }
    // The top three limbs carry at least 65 significant bits; the lower ones change the result by less than
    // 2^-64 of it.
    double value = 0.0;
    for (int k = top; k >= top - 2; --k) {
      value = value * 0x1p32 + (k >= 0 ? static_cast<double>(limbs_[k]) : 0.0);
    }
    const int lowest = top - 2;
    value = __builtin_ldexp(value, 32 * lowest - 298);
    return negative ? -value : value;
  }

 private:
  static constexpr int kLimbs = 20;
  static constexpr uint32_t kTermsBetweenCarries = 1u << 24;

  // Moves each limb's bits above 32 into the next one, leaving limbs 0 to kLimbs - 2 in [0, 2^32) and the
  // sign in the top limb.
  void Normalize() {
    for (int k = 0; k < kLimbs - 1; ++k) {
      // An arithmetic shift rounds toward -inf, which leaves the remainder non-negative.
      const int64_t carry = limbs_[k] >> 32;
      limbs_[k] -= carry * (int64_t{1} << 32);
      limbs_[k + 1] += carry;
    }
    terms_ = 0;
  }

  int64_t limbs_[kLimbs] = {};
  uint32_t terms_ = 0;
};

// Returns whether any of z[0, n) has its sign bit set. The OR of the bits vectorizes.
bool AnySignBit(const float* z, size_t n) {
  uint32_t bits = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t value;
    __builtin_memcpy(&value, z + i, sizeof value);
    bits |= value;
  }
  return (bits >> 31) != 0;
}

// Computes again, with row_loss, the loss of each row that has a negative label. Reads the logits, so it
// must run before a gradient written in place replaces them.
void LossesOfNegativeLabelRows(XentRowLossFunction row_loss, const float* labels, const float* logits, float* loss,
                               size_t rows, size_t classes) {
  for (size_t r = 0; r < rows; ++r) {
    const float* z = labels + r * classes;
    if (HasNegativeLabel(z, classes)) {
      loss[r] = row_loss(z, logits + r * classes, classes);
    }
  }
}

}  // namespace

bool HasNegativeLabel(const float* labels, size_t classes) {
  for (size_t j = 0; j < classes; ++j) {
    if (__builtin_signbit(labels[j]) && labels[j] != 0.0f) {
      return true;
    }
  }
  return false;
}

bool ExactLabelSums(const float* labels, const float* logits, size_t classes, float max, double* label_sum,
                    double* weighted_shift) {
  if (!__builtin_isfinite(max)) {
    return false;
  }
  const Float32Parts one_parts = Split(1.0f);
  Float32Parts negated_max = Split(max);
  negated_max.negative = !negated_max.negative;
  FixedPointSum labels_total;
  FixedPointSum shift_total;
  for (size_t j = 0; j < classes; ++j) {
    const float z = labels[j];
    const float x = logits[j];
    if (z == 0.0f) {
      continue;
    }
    if (!__builtin_isfinite(z) || !__builtin_isfinite(x)) {
      return false;
    }
    const Float32Parts z_parts = Split(z);
    labels_total.Add(z_parts, one_parts);
    if (x != max) {
      // z (x - max) = z x - z max, each product exact.
      shift_total.Add(z_parts, Split(x));
      shift_total.Add(z_parts, negated_max);
    }
  }
  *label_sum = labels_total.ToDouble();
  *weighted_shift = shift_total.ToDouble();
  return true;
}

void XentLanesWithExactSums(XentLanesFunction loss_only, XentLanesFunction with_gradient,
                            XentRowLossFunction row_loss, const float* labels, const float* logits, float* loss,
                            float* backprop, size_t rows, size_t classes) {
  if (backprop != nullptr && backprop == logits && AnySignBit(labels, rows * classes)) {
    if (loss_only(labels, logits, loss, nullptr, rows, classes)) {
      LossesOfNegativeLabelRows(row_loss, labels, logits, loss, rows, classes);
    }
    constexpr size_t kChunkRows = 1024;
    float discarded[kChunkRows];
    for (size_t r0 = 0; r0 < rows; r0 += kChunkRows) {
      const size_t count = rows - r0 < kChunkRows ? rows - r0 : kChunkRows;
      const size_t offset = r0 * classes;
      with_gradient(labels + offset, logits + offset, discarded, backprop + offset, count, classes);
    }
    return;
  }

  const XentLanesFunction lanes = backprop != nullptr ? with_gradient : loss_only;
  if (lanes(labels, logits, loss, backprop, rows, classes)) {
    LossesOfNegativeLabelRows(row_loss, labels, logits, loss, rows, classes);
  }
}

}  // namespace simd_nn
