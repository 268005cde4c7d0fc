// Portable kernel set: plain C++ compiled for the baseline of the target (SSE2 on x86-64), used on CPUs
// without AVX2, on arm64 and everywhere else. Each kernel computes in float64 and rounds once to float32.
// The results are correctly rounded except within about 2^-40 of a midpoint. About 100 of the 2^32 inputs of
// sigmoid, tanh and exp come out one float off there, within 0.500007 ulp of the exact value.
//
// The exponential and log1p are this file's own (ExpF64, Log1pF64), not libm's: straight-line code with
// selects instead of branches, which the compiler vectorizes (two float64 lanes with SSE2 or NEON). Row sums
// go through SumOfTerms, whose fixed four-way order vectorizes too. A loop keeps that shape only while every
// call in it is inlined and every load in it is unconditional; -fopt-info-vec shows which loops vectorized.
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

// relu6: min(max(x, 0), 6). Both selects compare false for NaN, which passes through, and so does -0.
void Relu6(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float low_clamped = v < 0.0f ? 0.0f : v;
    y[i] = low_clamped > 6.0f ? 6.0f : low_clamped;
  }
}

// leaky_relu: x for x > 0, else alpha * x rounded once. The select, rather than TensorFlow's max(x, alpha x),
// keeps the formula right for alpha > 1 and alpha < 0. NaN gives alpha * NaN, a NaN. With alpha = +-0, x is
// first raised to at least -FLT_MAX, so -inf gives the limit alpha * -FLT_MAX, a zero, where 0 * -inf is NaN.
void LeakyRelu(const float* x, float* y, size_t n, float alpha) {
  const float floor = alpha == 0.0f ? -std::numeric_limits<float>::max() : -std::numeric_limits<float>::infinity();
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float raised = v < floor ? floor : v;
    y[i] = v > 0.0f ? v : alpha * raised;
  }
}

// e^x in float64 without a call into libm, in straight-line code that the compiler can vectorize (SSE2 on
// x86-64, NEON on arm64). With std::exp, sigmoid and tanh ran about as fast as a plain JavaScript loop.
//
// x = k ln2 + r with k = round(x / ln2) and |r| <= ln2/2, reduced exactly enough (Cody-Waite: k kLn2High is
// exact for |k| < 2^17), then e^r from its Taylor series to r^10 (the rest is below 2^-42 relative) and 2^k
// put into the exponent bits. Relative error below 2^-41 for x in [-708, 709]: after the rounding to float32,
// at most 0.5 + 2^-17 ulp. Below -708 it returns 0 (the exact value is below 2^-1021, which no float32 result
// of this set can show), above 709 +inf, and NaN stays NaN.
//
// The range is checked once, on the result: out-of-range x leave garbage in k and r, and the two selects
// replace it. Clamping x first let GCC fold the clamped value into the integer steps, as a 64-bit select
// that SSE2 lacks, and the loops stayed scalar.
SIMD_NN_ALWAYS_INLINE double ExpF64(double x) {
  constexpr double kMin = -708.0;
  constexpr double kMax = 709.0;
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2High = 0x1.62e42fefa0000p-1;  // ln2 to 36 bits
  constexpr double kLn2Low = 0x1.cf79abc9e3b3ap-40;   // ln2 - kLn2High
  constexpr double kRoundingMagic = 0x1.8p52;         // adding it rounds |v| < 2^51 to an integer

  const double shifted = x * kLog2e + kRoundingMagic;
  const double k = shifted - kRoundingMagic;
  const double r = (x - k * kLn2High) - k * kLn2Low;

  // Estrin's scheme over the coefficients 1 / n!: the pairs and the powers of r compute side by side. The
  // exponential over 64K elements took 1.4 times as long with Horner's chain of 22 dependent steps (to r^11).
  const double r2 = r * r;
  const double r4 = r2 * r2;
  const double p01 = 1.0 + r;
  const double p23 = 1.0 / 2.0 + r * (1.0 / 6.0);
  const double p45 = 1.0 / 24.0 + r * (1.0 / 120.0);
  const double p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
  const double p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
  const double p03 = p01 + r2 * p23;
  const double p47 = p45 + r2 * p67;
  const double p8a = p89 + r2 * (1.0 / 3628800.0);
  const double p = p03 + r4 * (p47 + r4 * p8a);

  // The low bits of `shifted` hold k in two's complement, plus the magic's 2^51. Adding the bias less that
  // offset and shifting into the exponent field gives the bits of 2^k, for k in [-1022, 1023].
  uint64_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  const uint64_t scale_bits = (bits + (uint64_t{1023} - uint64_t{0x4338000000000000})) << 52;
  double scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  const double e = p * scale;
  return x < kMin ? 0.0 : (x > kMax ? std::numeric_limits<double>::infinity() : e);
}

// Returns 1 / (1 + e^-x) in float64. Evaluating e^-|x| keeps the exponential in (0, 1].
SIMD_NN_ALWAYS_INLINE double SigmoidF64(double x) {
  const double e = ExpF64(-std::fabs(x));
  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

void Sigmoid(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(SigmoidF64(x[i]));
  }
}

// Returns tanh(x) in float64, from |x| = a with the sign of x put back last (so tanh(-0) = -0). Below a = 1/8
// an odd Taylor polynomial to a^13, whose first term left out is below 2^-50 of a, and which keeps tiny x
// exact. Above it (1 - e) / (1 + e) with e = e^(-2a) <= e^(-1/4), which passes e's relative error on times
// 2e / (1 - e^2) < 4: below 2^-39 in all. For large a, e is 0 or below 2^-53, and the quotient is exactly 1.
SIMD_NN_ALWAYS_INLINE double TanhF64(double x) {
  const double a = std::fabs(x);
  const double a2 = a * a;
  const double a4 = a2 * a2;
  const double q01 = -1.0 / 3.0 + a2 * (2.0 / 15.0);
  const double q23 = -17.0 / 315.0 + a2 * (62.0 / 2835.0);
  const double q45 = -1382.0 / 155925.0 + a2 * (21844.0 / 6081075.0);
  const double q = q01 + a4 * (q23 + a4 * q45);
  const double small = a + a * (a2 * q);

  const double e = ExpF64(-2.0 * a);
  const double large = (1.0 - e) / (1.0 + e);
  return std::copysign(a < 0.125 ? small : large, x);
}

void Tanh(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(TanhF64(x[i]));
  }
}

// The set's internal exponential, for the tests and the accuracy sweep: ExpF64, rounded once to float32.
void Exp(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(ExpF64(x[i]));
  }
}

// Row statistics for softmax and cross-entropy. Returns false when the row has no defined result (a NaN or
// +inf logit, or every logit -inf), and the caller then writes NaN.
struct RowStats {
  double max;
  double sum;       // S = sum_j e^(x_j - max), at least 1
  double log_sum;   // log S, from log1p(S - 1) when a single entry has the maximum
  double rest_sum;  // S - (number of entries equal to the maximum), the tail that log1p needs
  uint64_t max_count;
};

// Returns the sum of term(j) over j in [0, n). The terms of a block go into a local array first, in a loop the
// compiler vectorizes. Four accumulators then add them up in a fixed order, by position from the start, so
// equal rows give equal sums wherever they sit. With one accumulator, each addition waited on the previous one.
// Unless stored is null, the terms stay there for the caller (it needs room for n + 3).
template <typename Term>
SIMD_NN_ALWAYS_INLINE double SumOfTerms(size_t n, Term term, double* stored) {
  constexpr size_t kBlock = 256;
  double local[kBlock];
  double sum0 = 0.0;
  double sum1 = 0.0;
  double sum2 = 0.0;
  double sum3 = 0.0;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t count = n - start < kBlock ? n - start : kBlock;
    double* const terms = stored != nullptr ? stored + start : local;
    for (size_t t = 0; t < count; ++t) {
      terms[t] = term(start + t);
    }
    const size_t padded = (count + 3) & ~size_t{3};
    for (size_t t = count; t < padded; ++t) {
      terms[t] = 0.0;
    }
    for (size_t t = 0; t < padded; t += 4) {
      sum0 += terms[t];
      sum1 += terms[t + 1];
      sum2 += terms[t + 2];
      sum3 += terms[t + 3];
    }
  }
  return (sum0 + sum1) + (sum2 + sum3);
}

// Returns an int32 that orders as the float with these bits does, with -NaN below -inf, +NaN above +inf and -0
// just below +0: the bits of a negative float, other than its sign, count down. The map is its own inverse.
SIMD_NN_ALWAYS_INLINE int32_t OrderKey(int32_t bits) {
  return bits ^ ((bits >> 31) & 0x7FFFFFFF);
}

constexpr int32_t kPlusInfKey = 0x7F800000;                // OrderKey of +inf's bits
constexpr int32_t kMinusInfKey = INT32_MIN + 0x007FFFFF;   // OrderKey of -inf's bits (0xFF800000)
constexpr size_t kCountChunk = size_t{1} << 30;           // entries per pass of the 32-bit counters

// Rows of up to this many classes keep their exponentials on the stack (16 KiB) between the sum and the
// output, rather than computing them twice.
constexpr size_t kExpBufferClasses = 2048;

// Computes the statistics of a row. Unless exp_terms is null, it also stores there e^(x_j - max) of the
// entries below the maximum, and 0 at the maximum (it needs room for classes + 3 doubles).
bool ComputeRowStats(const float* x, size_t classes, RowStats* stats, double* exp_terms) {
  // The maximum and the invalid rows come from the extremes of the order keys. Integer minima and maxima
  // vectorize. Float comparisons that must keep NaN in mind compiled to a branch per entry.
  int32_t low = INT32_MAX;
  int32_t high = INT32_MIN;
  for (size_t j = 0; j < classes; ++j) {
    int32_t bits;
    std::memcpy(&bits, x + j, sizeof(bits));
    const int32_t key = OrderKey(bits);
    low = key < low ? key : low;
    high = key > high ? key : high;
  }
  // A NaN of either sign or +inf, or every entry -inf.
  if (high >= kPlusInfKey || low < kMinusInfKey || high == kMinusInfKey) {
    return false;
  }
  const int32_t max_bits = OrderKey(high);
  float max_float;
  std::memcpy(&max_float, &max_bits, sizeof(max_float));
  const double max = max_float;

  // The entries equal to the maximum contribute exactly 1 each. Summing them apart from the rest keeps S - 1
  // exact for log1p when one class dominates. An entry below the maximum is finite where there are more
  // finite entries than entries at the maximum.
  uint64_t max_count = 0;
  uint64_t finite_count = 0;
  for (size_t start = 0; start < classes; start += kCountChunk) {
    const size_t end = classes - start < kCountChunk ? classes : start + kCountChunk;
    uint32_t at_max = 0;
    uint32_t finite = 0;
    for (size_t j = start; j < end; ++j) {
      at_max += x[j] == max_float ? 1u : 0u;
      finite += x[j] > -std::numeric_limits<float>::infinity() ? 1u : 0u;
    }
    max_count += at_max;
    finite_count += finite;
  }
  const bool finite_below = finite_count > max_count;
  double rest_sum = SumOfTerms(
      classes,
      [x, max](size_t j) {
        const double v = x[j];
        return v == max ? 0.0 : ExpF64(v - max);
      },
      exp_terms);
  // Every term may underflow (x - max below -708, see ExpF64) while an entry below the maximum is finite. The
  // sum is then positive all the same, and so is log S: an infinite label at the maximum gives the limits +-inf
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
  double exp_buffer[kExpBufferClasses + 3];
  double* const exp_terms = classes <= kExpBufferClasses ? exp_buffer : nullptr;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * classes;
    float* out = y + r * classes;

    RowStats stats;
    if (!ComputeRowStats(row, classes, &stats, exp_terms)) {
      for (size_t j = 0; j < classes; ++j) {
        out[j] = kNaN;
      }
      continue;
    }

    // y may be exactly x: each x[j] is read before y[j] is written (ivdep).
    const double inverse_sum = 1.0 / stats.sum;
    if (exp_terms != nullptr) {
#pragma GCC ivdep
      for (size_t j = 0; j < classes; ++j) {
        // exp_terms[j] is read whatever the entry: a load under the condition kept the loop scalar.
        const double e = exp_terms[j];
        out[j] = static_cast<float>((row[j] == stats.max ? 1.0 : e) * inverse_sum);
      }
    } else {
#pragma GCC ivdep
      for (size_t j = 0; j < classes; ++j) {
        out[j] = static_cast<float>(ExpF64(row[j] - stats.max) * inverse_sum);
      }
    }
  }
}

void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes) {
  double exp_buffer[kExpBufferClasses + 3];
  double* const exp_terms = backprop != nullptr && classes <= kExpBufferClasses ? exp_buffer : nullptr;
  for (size_t r = 0; r < rows; ++r) {
    const float* z = labels + r * classes;
    const float* x = logits + r * classes;
    float* grad = backprop != nullptr ? backprop + r * classes : nullptr;

    RowStats stats;
    if (!ComputeRowStats(x, classes, &stats, exp_terms)) {
      loss[r] = kNaN;
      if (grad != nullptr) {
        for (size_t j = 0; j < classes; ++j) {
          grad[j] = kNaN;
        }
      }
      continue;
    }

    // A label of exactly 0 contributes nothing, even where s_j is -inf and the product would be NaN.
    double row_loss = SumOfTerms(
        classes,
        [z, x, &stats](size_t j) {
          // x[j] is read whatever the label: a load under the condition kept the loop scalar.
          const double label = z[j];
          const double term = label * (stats.log_sum - (x[j] - stats.max));
          return label != 0.0 ? term : 0.0;
        },
        nullptr);
    // Compared in float64, so that the comparison and the 64-bit counter share a lane width and the loop
    // vectorizes.
    uint64_t negative_labels = 0;
    for (size_t j = 0; j < classes; ++j) {
      negative_labels += static_cast<double>(z[j]) < 0.0 ? 1 : 0;
    }
    const bool negative_label = negative_labels != 0;
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

    // backprop may alias logits: each x[j] is read before grad[j] is written (ivdep).
    // At the single maximum, p - z with p = 1 / (1 + rest) is ((1 - z) - z * rest) / S: no cancellation in
    // 1/S - 1. With rest = 0 (every other logit -inf), an infinite z would make z * rest NaN; the gradient is
    // 1 - z. Both forms are computed for every entry and one is selected, so that the loop vectorizes.
    const double inverse_sum = 1.0 / stats.sum;
    const bool single_max = stats.max_count == 1;
    const bool has_rest = stats.rest_sum > 0.0;
    const auto gradient = [&](double label, double s, double e) SIMD_NN_LAMBDA_ALWAYS_INLINE {
      const double label_rest = has_rest ? label * stats.rest_sum : 0.0;
      const double at_max = ((1.0 - label) - label_rest) * inverse_sum;
      const double below = e * inverse_sum - label;
      return static_cast<float>(single_max && s == 0.0 ? at_max : below);
    };
    if (exp_terms != nullptr) {
#pragma GCC ivdep
      for (size_t j = 0; j < classes; ++j) {
        const double s = x[j] - stats.max;
        const double e = exp_terms[j];
        grad[j] = gradient(z[j], s, s == 0.0 ? 1.0 : e);
      }
    } else {
#pragma GCC ivdep
      for (size_t j = 0; j < classes; ++j) {
        const double s = x[j] - stats.max;
        grad[j] = gradient(z[j], s, ExpF64(s));
      }
    }
  }
}

// log(1 + e) in float64 for e in [0, 1], vectorizable like ExpF64. With y = 1 + e rounded, y = 2^k m where
// k is 0 or 1 and m lies in [sqrt(1/2), sqrt(2)], so f = m - 1 is exact. log m = 2 atanh(s) with
// s = f / (2 + f), |s| <= 0.172, from the odd series of atanh to s^17 (the rest is below 2^-50 relative), and
// the rounding of 1 + e comes back as (e - (y - 1)) / y. Relative error below 2^-49; NaN stays NaN.
SIMD_NN_ALWAYS_INLINE double Log1pF64(double e) {
  constexpr double kSqrt2 = 1.4142135623730951;
  constexpr double kLn2 = 0.6931471805599453;
  const double y = 1.0 + e;
  const double correction = (e - (y - 1.0)) / y;
  const bool halve = y > kSqrt2;
  const double f = (halve ? 0.5 * y : y) - 1.0;
  const double s = f / (2.0 + f);

  // atanh(s) / s = 1 + t/3 + t^2/5 + ... + t^8/17 with t = s^2, by Estrin's scheme.
  const double t = s * s;
  const double t2 = t * t;
  const double t4 = t2 * t2;
  const double q01 = 1.0 + t * (1.0 / 3.0);
  const double q23 = 1.0 / 5.0 + t * (1.0 / 7.0);
  const double q45 = 1.0 / 9.0 + t * (1.0 / 11.0);
  const double q67 = 1.0 / 13.0 + t * (1.0 / 15.0);
  const double q03 = q01 + t2 * q23;
  const double q47 = q45 + t2 * q67;
  const double q = q03 + t4 * (q47 + t4 * (1.0 / 17.0));
  const double log_m = 2.0 * s * q;
  return (halve ? kLn2 + log_m : log_m) + correction;
}

void SigmoidXent(const float* labels, const float* logits, float* out, size_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // out may be exactly labels or logits: both are read before out[i] is written (ivdep).
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    const double x = logits[i];
    const double z = labels[i];

    // max(x, 0) - x * z equals x * (1 - z) for x >= 0 and -x * z for x < 0.
    const double linear = x >= 0.0 ? x * (1.0 - z) : -x * z;
    const double finite = linear + Log1pF64(ExpF64(-std::fabs(x)));

    // At x = +-inf the formula subtracts infinities; the limit is (1 - z) * x or -z * x, and 0 where the
    // label cancels the infinite term exactly. Selects rather than branches, so that the loop vectorizes.
    const double at_plus_inf = z == 1.0 ? 0.0 : (1.0 - z) * kInf;
    const double at_minus_inf = z == 0.0 ? 0.0 : z * kInf;
    const double result = x == kInf ? at_plus_inf : (x == -kInf ? at_minus_inf : finite);
    // A NaN logit comes out as itself, as in the SIMD sets. Which of two NaN operands an instruction passes on
    // depends on their order, which the compiler picks (clang and GCC differ).
    out[i] = x != x ? logits[i] : static_cast<float>(result);
  }
}

// Returns softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) in float64. The exponential of -|x| lies in
// [0, 1], so nothing overflows, and the tail below x = -87 keeps its tiny value e^x. softplus(+inf) = +inf and
// softplus(-inf) = 0 come out of the formula, and NaN stays NaN.
SIMD_NN_ALWAYS_INLINE double SoftplusF64(double x) {
  const double linear = x > 0.0 ? x : 0.0;
  return linear + Log1pF64(ExpF64(-std::fabs(x)));
}

void Softplus(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(SoftplusF64(x[i]));
  }
}

// log_sigmoid(x) = -softplus(-x). log_sigmoid(-100) is -100, not -inf as log(sigmoid(-100)) would round to.
void LogSigmoid(const float* x, float* y, size_t n) {
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(-SoftplusF64(-static_cast<double>(x[i])));
  }
}

// softsign: x / (|x| + 1) in float64, rounded once. x is clamped to +-2^64 first, where the quotient rounds to
// +-1 in float64 already, so +-inf gives +-1 instead of inf / inf. The comparisons are false for NaN, which
// passes through, and -0 stays -0.
void Softsign(const float* x, float* y, size_t n) {
  constexpr double kLimit = 0x1p64;
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double clamped = v > kLimit ? kLimit : (v < -kLimit ? -kLimit : v);
    y[i] = static_cast<float>(clamped / (std::fabs(clamped) + 1.0));
  }
}

// silu: x * sigmoid(t) with t = beta * x, exact in float64, as x / (1 + e) for t >= 0 and x e / (1 + e) for
// t < 0, where e = e^-|t|. ExpF64 keeps e in float64 far below float32's range, so x e stays right where a
// large x meets a tiny e. beta = 0 takes t = 0, which keeps 0 * inf from making t NaN. At x = +-inf with the
// factor e = 0 the formula gives inf * 0, and the select returns the limit, 0 with the sign of x.
void Silu(const float* x, float* y, size_t n, float beta) {
  const double factor = beta;
#pragma GCC ivdep
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double t = factor == 0.0 ? 0.0 : factor * v;
    const double e = ExpF64(-std::fabs(t));
    const double numerator = t < 0.0 ? e : 1.0;
    const double result = v * numerator / (1.0 + e);
    y[i] = static_cast<float>(result != result && v == v ? std::copysign(0.0, v) : result);
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
    "scalar", Relu, Sigmoid, Tanh, Exp, Relu6, LeakyRelu, Softplus, LogSigmoid, Softsign, Silu,
    SoftmaxRows, SoftmaxXentRows, SigmoidXent, SumSquares,
};

}  // namespace scalar
}  // namespace simd_nn
