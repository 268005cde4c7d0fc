// Guard-page check of every kernel set this CPU supports: no kernel may read or write outside its arrays.
//
// Each array sits flush against an inaccessible page (PROT_NONE), after it or before it, or a few floats
// away from it. An access past either end of an array then faults, which kills the process, and a write
// into the gap changes a sentinel, which the check reports. The JavaScript tests catch stray writes but not
// stray reads, which is what loading whole vectors across a row's end would risk.
//
// Build and run (CI does this after `npm ci`, which leaves build/libsimd_nn_core.a):
//   g++ -O2 -Inative -o build/guard-pages test/native/guard-pages.cpp build/libsimd_nn_core.a
//   build/guard-pages
// It prints one line per kernel set and exits with 1 if a sentinel changed.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dispatch.h"

namespace {

using simd_nn::KernelSet;

// A signalling-NaN pattern: the kernels write quiet NaNs only, so none of them can write it by chance.
constexpr uint32_t kSentinelBits = 0x7FB0DEADu;

// Whether an array sits against the guard page after its region or the one before it.
constexpr bool kSides[] = {true, false};

// Gaps in floats between an array and the guard page next to it.
constexpr size_t kGaps[] = {0, 1, 3, 7};

// The largest array: 20 rows of 130 classes, and 300 elements for the element-wise kernels.
constexpr size_t kMaxFloats = 20 * 130;

size_t page_bytes = 0;

// A few pages of floats with an inaccessible page on each side.
class GuardedRegion {
 public:
  GuardedRegion() {
    data_bytes_ = ((kMaxFloats + 8) * sizeof(float) + page_bytes - 1) / page_bytes * page_bytes;
    void* base = mmap(nullptr, data_bytes_ + 2 * page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (base == MAP_FAILED) {
      perror("mmap");
      exit(2);
    }
    base_ = static_cast<char*>(base);
    if (mprotect(base_, page_bytes, PROT_NONE) != 0 || mprotect(data() + data_bytes_, page_bytes, PROT_NONE) != 0) {
      perror("mprotect");
      exit(2);
    }
  }

  // Fills the region with the sentinel and returns room for n floats, `gap` floats from the guard page after
  // the region (at_end) or before it.
  float* Place(size_t n, bool at_end, size_t gap) {
    uint32_t* words = reinterpret_cast<uint32_t*>(data());
    for (size_t i = 0; i < data_bytes_ / sizeof(float); ++i) {
      words[i] = kSentinelBits;
    }
    begin_ = at_end ? data_bytes_ / sizeof(float) - gap - n : gap;
    end_ = begin_ + n;
    return reinterpret_cast<float*>(data()) + begin_;
  }

  // Returns the number of floats outside the placed array that no longer hold the sentinel.
  size_t CountChangedOutside() const {
    const uint32_t* words = reinterpret_cast<const uint32_t*>(data());
    size_t changed = 0;
    for (size_t i = 0; i < data_bytes_ / sizeof(float); ++i) {
      if ((i < begin_ || i >= end_) && words[i] != kSentinelBits) {
        ++changed;
      }
    }
    return changed;
  }

 private:
  char* data() const { return base_ + page_bytes; }

  char* base_ = nullptr;
  size_t data_bytes_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

uint32_t random_state = 12345;

// Returns a float in [low, high) from a fixed linear congruential sequence.
float NextUniform(float low, float high) {
  random_state = random_state * 1664525u + 1013904223u;
  return low + (high - low) * static_cast<float>(random_state >> 8) * (1.0f / 16777216.0f);
}

void FillUniform(float* p, size_t n, float low, float high) {
  for (size_t i = 0; i < n; ++i) {
    p[i] = NextUniform(low, high);
  }
}

struct Regions {
  GuardedRegion logits;
  GuardedRegion labels;
  GuardedRegion out;
  GuardedRegion loss;
};

size_t calls = 0;
size_t failures = 0;

void Expect(const Regions& regions, const char* set, const char* kernel_call, size_t rows, size_t classes) {
  ++calls;
  const size_t changed = regions.logits.CountChangedOutside() + regions.labels.CountChangedOutside() +
                         regions.out.CountChangedOutside() + regions.loss.CountChangedOutside();
  if (changed != 0) {
    if (failures < 20) {
      fprintf(stderr, "%s %s, %zu x %zu: %zu floats outside the arrays changed\n", set, kernel_call, rows, classes,
              changed);
    }
    ++failures;
  }
}

// Runs the row kernels on rows x classes arrays at one placement.
void CheckRows(const KernelSet& kernels, Regions& regions, size_t rows, size_t classes, bool at_end, size_t gap) {
  const size_t n = rows * classes;
  // Places the inputs and leaves the outputs empty, so that every float of those regions must keep the sentinel.
  const auto place_inputs = [&](float** x, float** z) {
    regions.out.Place(0, at_end, gap);
    regions.loss.Place(0, at_end, gap);
    *x = regions.logits.Place(n, at_end, gap);
    *z = regions.labels.Place(n, !at_end, gap);
    FillUniform(*x, n, -5.0f, 5.0f);
    FillUniform(*z, n, 0.0f, 1.0f);
  };
  float* x = nullptr;
  float* z = nullptr;

  place_inputs(&x, &z);
  kernels.softmax_rows(x, regions.out.Place(n, at_end, gap), rows, classes);
  Expect(regions, kernels.name, "softmax", rows, classes);

  place_inputs(&x, &z);
  kernels.softmax_rows(x, x, rows, classes);
  Expect(regions, kernels.name, "softmax in place", rows, classes);

  place_inputs(&x, &z);
  kernels.softmax_xent_rows(z, x, regions.loss.Place(rows, at_end, gap), nullptr, rows, classes);
  Expect(regions, kernels.name, "cross-entropy", rows, classes);

  place_inputs(&x, &z);
  kernels.softmax_xent_rows(z, x, regions.loss.Place(rows, !at_end, gap), regions.out.Place(n, at_end, gap), rows,
                            classes);
  Expect(regions, kernels.name, "cross-entropy with backprop", rows, classes);

  place_inputs(&x, &z);
  kernels.softmax_xent_rows(z, x, regions.loss.Place(rows, at_end, gap), x, rows, classes);
  Expect(regions, kernels.name, "cross-entropy with backprop over the logits", rows, classes);
}

// Runs the element-wise kernels on n elements at one placement.
void CheckElements(const KernelSet& kernels, Regions& regions, size_t n, bool at_end, size_t gap) {
  using Map = void (*)(const float*, float*, size_t);
  const Map maps[] = {kernels.relu,  kernels.sigmoid,  kernels.tanh,        kernels.exp,
                      kernels.relu6, kernels.softplus, kernels.log_sigmoid, kernels.softsign};
  const char* names[] = {"relu", "sigmoid", "tanh", "exp", "relu6", "softplus", "log_sigmoid", "softsign"};
  constexpr size_t kMaps = sizeof(maps) / sizeof(maps[0]);
  regions.labels.Place(0, at_end, gap);
  regions.loss.Place(0, at_end, gap);
  for (size_t k = 0; k < kMaps; ++k) {
    float* x = regions.logits.Place(n, at_end, gap);
    FillUniform(x, n, -20.0f, 20.0f);
    maps[k](x, regions.out.Place(n, !at_end, gap), n);
    Expect(regions, kernels.name, names[k], 1, n);

    // In place.
    x = regions.logits.Place(n, at_end, gap);
    regions.out.Place(0, at_end, gap);
    FillUniform(x, n, -20.0f, 20.0f);
    maps[k](x, x, n);
    Expect(regions, kernels.name, names[k], 1, n);
  }

  float* x = regions.logits.Place(n, at_end, gap);
  FillUniform(x, n, -20.0f, 20.0f);
  kernels.leaky_relu(x, regions.out.Place(n, !at_end, gap), n, 0.2f);
  Expect(regions, kernels.name, "leaky_relu", 1, n);

  x = regions.logits.Place(n, at_end, gap);
  FillUniform(x, n, -20.0f, 20.0f);
  kernels.silu(x, regions.out.Place(n, !at_end, gap), n, 1.0f);
  Expect(regions, kernels.name, "silu", 1, n);

  x = regions.logits.Place(n, at_end, gap);
  float* z = regions.labels.Place(n, !at_end, gap);
  FillUniform(x, n, -20.0f, 20.0f);
  FillUniform(z, n, 0.0f, 1.0f);
  kernels.sigmoid_xent(z, x, regions.out.Place(n, at_end, gap), n);
  Expect(regions, kernels.name, "sigmoid cross-entropy", 1, n);

  regions.out.Place(0, at_end, gap);
  volatile double sum = kernels.sum_squares(x, n);
  (void)sum;
  Expect(regions, kernels.name, "sum of squares", 1, n);
}

}  // namespace

int main() {
  // Unbuffered, so that the log names the set being checked when a fault ends the process.
  setvbuf(stdout, nullptr, _IONBF, 0);
  page_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  Regions regions;

  // Every class count up to 56 (rows run across rows up to 24 or 40 classes on AVX2 and 48 on AVX-512), and
  // rows vectorized within the row with every tail length mod 8.
  size_t class_counts[80];
  size_t class_count_total = 0;
  for (size_t classes = 1; classes <= 56; ++classes) {
    class_counts[class_count_total++] = classes;
  }
  for (size_t classes = 97; classes <= 104; ++classes) {
    class_counts[class_count_total++] = classes;
  }
  for (size_t classes = 127; classes <= 130; ++classes) {
    class_counts[class_count_total++] = classes;
  }

  const char* names[] = {"scalar", "avx2", "avx512"};
  for (const char* name : names) {
    const KernelSet* kernels = simd_nn::FindSupportedKernels(name);
    if (kernels == nullptr) {
      printf("%s: not supported by this CPU, skipped\n", name);
      continue;
    }
    printf("%s: ", name);
    const size_t calls_before = calls;
    const size_t failures_before = failures;
    for (const bool at_end : kSides) {
      for (const size_t gap : kGaps) {
        for (size_t c = 0; c < class_count_total; ++c) {
          for (size_t rows = 1; rows <= 20; ++rows) {
            CheckRows(*kernels, regions, rows, class_counts[c], at_end, gap);
          }
        }
        for (size_t n = 0; n <= 300; ++n) {
          CheckElements(*kernels, regions, n, at_end, gap);
        }
      }
    }
    printf("%zu calls, %zu with floats changed outside the arrays\n", calls - calls_before, failures - failures_before);
  }
  return failures == 0 ? 0 : 1;
}
