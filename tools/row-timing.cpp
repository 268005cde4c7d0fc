// Times one AVX-512 row kernel (softmax, the cross-entropy loss, or the loss with its gradient) outside Node.js,
// next to a memcpy of the same length, with the arrays at chosen offsets from a 64-byte boundary. Rows whose
// length is not a multiple of 16 classes start at different offsets within a cache line, and the kernels'
// speed depends on it, which the JavaScript benchmarks cannot control.
//
// Needs an x86-64 CPU with AVX-512: it calls that kernel set directly, without the dispatcher. Build the addon
// first (npm run build:native leaves build/libsimd_nn_core.a), then:
//   g++ -O2 -o /tmp/row-timing tools/row-timing.cpp build/libsimd_nn_core.a
//   /tmp/row-timing KERNEL [elements] [classes] [input_offset] [output_offset]
// KERNEL is softmax, xent or xent-backprop. Defaults: 64000 elements, 1000 classes, and offsets of 4 floats
// (16 bytes) for the inputs and the output. It prints the median of 31 runs in ns per element, the same in
// cycles per vector of 16 floats at the clock given by the environment variable GHZ (default 4.3), and the
// ratio to memcpy. On a shared machine, take the lowest of several runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace simd_nn {
namespace avx512 {
void SoftmaxRows(const float* x, float* y, size_t rows, size_t classes);
void SoftmaxXentRows(const float* labels, const float* logits, float* loss, float* backprop, size_t rows,
                     size_t classes);
}  // namespace avx512
}  // namespace simd_nn

namespace {

constexpr int kRuns = 31;

// Returns count floats that start offset floats after a 64-byte boundary. The memory is never freed.
float* AllocateAt(size_t count, size_t offset) {
  const size_t bytes = ((count + offset) * sizeof(float) + 63) / 64 * 64;
  auto* base = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (base == nullptr) {
    std::fprintf(stderr, "row-timing: failed to allocate %zu bytes\n", bytes);
    std::exit(1);
  }
  std::memset(base, 0, bytes);
  return base + offset;
}

// Returns the median time of one call of run, in ns, over kRuns samples of enough calls for about 20 ms.
template <typename Run>
double MedianNs(Run run) {
  run();
  const auto start = std::chrono::steady_clock::now();
  run();
  const double once = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  const long calls = std::max(1L, static_cast<long>(2e7 / std::max(once, 1.0)));

  std::vector<double> samples;
  for (int i = 0; i < kRuns; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long c = 0; c < calls; ++c) {
      run();
    }
    samples.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(calls));
  }
  std::sort(samples.begin(), samples.end());
  return samples[kRuns / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "Usage: row-timing softmax|xent|xent-backprop [elements] [classes] [input_offset] "
                         "[output_offset]\n");
    return 2;
  }
  const char* kernel = argv[1];
  const bool softmax = std::strcmp(kernel, "softmax") == 0;
  const bool loss_only = std::strcmp(kernel, "xent") == 0;
  if (!softmax && !loss_only && std::strcmp(kernel, "xent-backprop") != 0) {
    std::fprintf(stderr, "row-timing: invalid kernel '%s': expected softmax, xent or xent-backprop\n", kernel);
    return 2;
  }
  const size_t requested = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 64000;
  const size_t classes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
  const size_t input_offset = argc > 4 ? std::strtoul(argv[4], nullptr, 10) % 16 : 4;
  const size_t output_offset = argc > 5 ? std::strtoul(argv[5], nullptr, 10) % 16 : input_offset;
  const size_t rows = classes == 0 ? 0 : requested / classes;
  if (rows == 0) {
    std::fprintf(stderr, "row-timing: %zu elements hold no row of %zu classes; pass more elements\n", requested,
                 classes);
    return 2;
  }
  const size_t elements = rows * classes;
  const char* ghz_text = std::getenv("GHZ");
  const double ghz = ghz_text != nullptr ? std::atof(ghz_text) : 4.3;

  // Logits uniform in [-8, 8) and one-hot labels, as in tools/ab.mjs.
  float* logits = AllocateAt(elements, input_offset);
  float* labels = AllocateAt(elements, input_offset);
  float* output = AllocateAt(elements, output_offset);
  float* copy = AllocateAt(elements, output_offset);
  std::vector<float> loss(rows);
  unsigned seed = 1;
  for (size_t i = 0; i < elements; ++i) {
    seed = seed * 1103515245u + 12345u;
    logits[i] = static_cast<float>(seed >> 8) / 16777216.0f * 16.0f - 8.0f;
  }
  for (size_t r = 0; r < rows; ++r) {
    labels[r * classes + (r * 7) % classes] = 1.0f;
  }

  const double kernel_ns = MedianNs([&] {
    if (softmax) {
      simd_nn::avx512::SoftmaxRows(logits, output, rows, classes);
    } else {
      simd_nn::avx512::SoftmaxXentRows(labels, logits, loss.data(), loss_only ? nullptr : output, rows, classes);
    }
  });
  const double copy_ns = MedianNs([&] { std::memcpy(copy, logits, elements * sizeof(float)); });

  const double per_element = kernel_ns / static_cast<double>(elements);
  std::printf("%s, %zu elements of %zu classes, offsets %zu and %zu floats: %.4f ns per element "
              "(%.2f cycles per vector at %.2f GHz), %.2fx memcpy\n",
              kernel, elements, classes, input_offset, output_offset, per_element, per_element * 16.0 * ghz, ghz,
              kernel_ns / copy_ns);
  return 0;
}
