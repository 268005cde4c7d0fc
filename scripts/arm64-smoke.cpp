// Runs the kernel set that the dispatcher picks on arm64 (the scalar set) on a few inputs and compares the
// results with float64 references. scripts/cross-compile-arm64.sh builds it statically for aarch64 and runs it
// under qemu-aarch64. Exits with 0 when every result is within the README's bound, else 1.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "dispatch.h"

namespace {

int failures = 0;

// A float32 ulp is at most 2^-23 of the value. `scale` replaces the value when the bound is relative to a larger
// magnitude, as for a difference such as the backprop.
void Expect(const char* name, size_t index, float actual, double expected, double ulps, double scale = 0) {
  const double bound = ulps * std::ldexp(1.0, -23) * std::fmax(std::fabs(expected), scale);
  if (!(std::fabs(actual - expected) <= bound)) {
    std::printf("FAIL %s[%zu]: %.9g, expected %.9g\n", name, index, actual, expected);
    ++failures;
  }
}

}  // namespace

int main() {
  const simd_nn::KernelSet& kernels = simd_nn::ActiveKernels();
  std::printf("kernel set: %s\n", kernels.name);
  if (std::strcmp(kernels.name, "scalar") != 0) {
    std::printf("FAIL expected the scalar set on arm64\n");
    ++failures;
  }

  constexpr size_t kCount = 37;
  float x[kCount];
  float y[kCount];
  for (size_t i = 0; i < kCount; ++i) {
    x[i] = static_cast<float>(std::sin(static_cast<double>(i) * 12.9898) * 12.0);
  }

  kernels.sigmoid(x, y, kCount);
  for (size_t i = 0; i < kCount; ++i) {
    Expect("sigmoid", i, y[i], 1.0 / (1.0 + std::exp(-static_cast<double>(x[i]))), 2);
  }

  kernels.tanh(x, y, kCount);
  for (size_t i = 0; i < kCount; ++i) {
    Expect("tanh", i, y[i], std::tanh(static_cast<double>(x[i])), 2);
  }

  kernels.softmax_rows(x, y, 1, kCount);
  double max = x[0];
  for (size_t i = 1; i < kCount; ++i) {
    max = std::fmax(max, x[i]);
  }
  double sum = 0;
  for (size_t i = 0; i < kCount; ++i) {
    sum += std::exp(x[i] - max);
  }
  for (size_t i = 0; i < kCount; ++i) {
    Expect("softmax", i, y[i], std::exp(x[i] - max) / sum, 8);
  }

  float labels[kCount] = {};
  labels[3] = 1.0f;
  float loss = 0;
  float backprop[kCount];
  kernels.softmax_xent_rows(labels, x, &loss, backprop, 1, kCount);
  const double log_sum = std::log(sum);
  Expect("softmax cross-entropy loss", 0, loss, log_sum - (x[3] - max), 8, log_sum);
  for (size_t i = 0; i < kCount; ++i) {
    Expect("backprop", i, backprop[i], std::exp(x[i] - max) / sum - labels[i], 16, 1);
  }

  std::printf("softmax[0] = %.7g, cross-entropy loss = %.7g\n", y[0], loss);
  std::printf("%s\n", failures == 0 ? "arm64 smoke test: ok" : "arm64 smoke test: FAILED");
  return failures == 0 ? 0 : 1;
}
