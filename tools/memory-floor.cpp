// Measures the memory floors of this machine for the row kernels, outside Node.js: the time of loops that move
// the same arrays as a kernel and compute nothing else, next to a copy (memcpy), and whether computation
// overlaps memory traffic.
//
// Build and run (x86-64 with AVX-512, single thread):
//   g++ -O2 -o /tmp/memory-floor tools/memory-floor.cpp && /tmp/memory-floor [elements]
//
// For each loop it prints the median of 21 runs in ns per element and the ratio to memcpy of the same length
// (default 16Mi floats, 64 MiB per array):
//   - read 2, write 1 NT: the traffic of cross-entropy with the gradient (logits and labels in, the gradient
//     out with non-temporal stores), the floor of that kernel at sizes beyond the cache;
//   - read 2: the traffic of the loss alone;
//   - read 2 + K FMA rounds: the same reads with K rounds of FMAs over 8 vectors that do not depend on them.
//     The in-cache column times the same loop over 32 KiB, which the reads do not slow. Where memory and
//     computation overlap, the large-array time is about the larger of the read-only time and the in-cache
//     time. Where it is near their sum, a kernel at large sizes gains from every operation it saves.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kRuns = 21;
constexpr size_t kInCacheElements = 8192;

double NowNs() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Returns the median time of fn over kRuns runs, in ns per element of n.
template <typename Fn>
double MedianNsPerElement(size_t n, Fn fn) {
  std::vector<double> times;
  for (int run = 0; run < kRuns; ++run) {
    const double start = NowNs();
    fn();
    times.push_back((NowNs() - start) / static_cast<double>(n));
  }
  std::sort(times.begin(), times.end());
  return times[kRuns / 2];
}

__attribute__((target("avx512f"), noinline)) void ReadTwoWriteOneStreaming(const float* a, const float* b, float* c,
                                                                         size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    _mm512_stream_ps(c + i, _mm512_sub_ps(_mm512_load_ps(a + i), _mm512_load_ps(b + i)));
  }
  _mm_sfence();
}

// Reads a and b (n a multiple of 128) and runs kRounds rounds of FMAs over 8 vectors that do not depend on
// the reads. Returns a sum that keeps the compiler from dropping either.
template <int kRounds>
__attribute__((target("avx512f,fma"), noinline)) float ReadTwoWithWork(const float* a, const float* b, size_t n) {
  __m512 sum = _mm512_setzero_ps();
  __m512 work[8];
  for (int k = 0; k < 8; ++k) {
    work[k] = _mm512_set1_ps(static_cast<float>(k));
  }
  const __m512 scale = _mm512_set1_ps(1.0001f);
  const __m512 offset = _mm512_set1_ps(0.999f);
  for (size_t i = 0; i < n; i += 128) {
    for (int k = 0; k < 8; ++k) {
      sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_load_ps(a + i + k * 16), _mm512_load_ps(b + i + k * 16)));
    }
    for (int round = 0; round < kRounds; ++round) {
      for (int k = 0; k < 8; ++k) {
        work[k] = _mm512_fmadd_ps(work[k], scale, offset);
      }
    }
  }
  for (int k = 0; k < 8; ++k) {
    sum = _mm512_add_ps(sum, work[k]);
  }
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) {
    total += lane;
  }
  return total;
}

volatile float g_sink;

template <int kRounds>
void ReportReadTwoWithWork(const float* a, const float* b, size_t n, double copy) {
  const double large = MedianNsPerElement(n, [&] { g_sink = ReadTwoWithWork<kRounds>(a, b, n); });
  const double in_cache =
      MedianNsPerElement(kInCacheElements, [&] { g_sink = ReadTwoWithWork<kRounds>(a, b, kInCacheElements); });
  std::printf("read 2 + %2d FMA rounds   %.4f ns/element  %.2fx copy   in cache %.4f\n", kRounds, large,
              large / copy, in_cache);
}

}  // namespace

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx512f")) {
    std::fprintf(stderr, "This tool needs a CPU with AVX-512F: run it on an AVX-512 machine.\n");
    return 2;
  }
  const size_t requested = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : (size_t{1} << 24);
  const size_t n = std::max<size_t>(requested / 128 * 128, 128);
  const size_t bytes = n * sizeof(float);
  float* a = static_cast<float*>(std::aligned_alloc(64, bytes));
  float* b = static_cast<float*>(std::aligned_alloc(64, bytes));
  float* c = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (a == nullptr || b == nullptr || c == nullptr) {
    std::fprintf(stderr, "Allocating 3 x %zu bytes failed: pass a smaller element count.\n", bytes);
    return 1;
  }
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i) * 1e-7f;
    b[i] = 1.0f;
    c[i] = 0.0f;
  }

  std::printf("%zu elements (%zu MiB per array)\n", n, bytes >> 20);
  const double copy = MedianNsPerElement(n, [&] { std::memcpy(c, a, bytes); });
  std::printf("memcpy                   %.4f ns/element\n", copy);
  const double streaming = MedianNsPerElement(n, [&] { ReadTwoWriteOneStreaming(a, b, c, n); });
  std::printf("read 2, write 1 NT       %.4f ns/element  %.2fx copy\n", streaming, streaming / copy);
  ReportReadTwoWithWork<0>(a, b, n, copy);
  ReportReadTwoWithWork<4>(a, b, n, copy);
  ReportReadTwoWithWork<8>(a, b, n, copy);
  ReportReadTwoWithWork<16>(a, b, n, copy);

  std::free(a);
  std::free(b);
  std::free(c);
  return 0;
}
