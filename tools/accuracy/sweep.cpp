// Exhaustive accuracy sweep: runs every float32 bit pattern through sigmoid, tanh, softplus, log_sigmoid,
// softsign, silu (beta 1) and the internal exp of every kernel set this CPU supports, and prints each set's
// maximum error per function.
//
// The reference is computed once per input and shared by all sets. It is float64 from glibc's exp, log1p and
// tanh, whose errors are near 1 ulp of float64 (2^-52 relative), and long double for softsign. Errors are
// measured against the float32 rounding of that reference:
// - "max ulp" is the distance, in representable float32 values, between the kernel's result and the
//   rounded reference. Where the reference lies within 2^-40 (relative) of a midpoint between two floats,
//   the nearer of the two counts, because the float64 reference cannot tell which one is correct.
// - "max err" is |result - reference| / ulp(rounded reference), the fractional error.
// - Results whose exact value is below 2^-126 in magnitude are checked against the contract's absolute
//   allowance instead (off by at most 2^-126, flushing to zero allowed) and are left out of the ulp maxima.
// - NaN, infinity and sign mismatches are counted separately: NaN in must give NaN, a finite or infinite
//   reference must give the same class and sign (the sign of zero included).
//
// Usage: simd_nn_accuracy [--threads N] [--stride K] [--functions NAME,...]
//   --threads N    worker threads (default: all hardware threads)
//   --stride K     test every K-th bit pattern only (default 1, the full sweep); for quick checks
//   --functions    the functions to sweep, by the names above (default: all)
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dispatch.h"

namespace {

constexpr uint64_t kPatternCount = uint64_t{1} << 32;
constexpr size_t kBlockSize = 1 << 16;
constexpr double kTinyResult = 0x1p-126;  // below this, the contract's absolute allowance applies
constexpr double kMidpointWindow = 0x1p-40;

enum Function { kSigmoid, kTanh, kSoftplus, kLogSigmoid, kSoftsign, kSilu, kExp, kFunctionCount };
const char* const kFunctionNames[kFunctionCount] = {"sigmoid",  "tanh", "softplus", "log_sigmoid",
                                                    "softsign", "silu", "exp"};
// Each function's bound in ulp: the numeric contract's for the public functions, and the one documented in
// docs/accuracy.md for the internal exp.
const uint64_t kBoundsUlp[kFunctionCount] = {2, 2, 2, 2, 1, 2, 1};

double SigmoidReference(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

double SoftplusReference(double x) { return (x > 0.0 ? x : 0.0) + std::log1p(std::exp(-std::fabs(x))); }

double SoftsignReference(float x) {
  if (std::isinf(x)) {
    return x > 0.0f ? 1.0 : -1.0;
  }
  const long double v = x;
  return static_cast<double>(v / (std::fabs(v) + 1.0L));
}

// x * sigmoid(x), and its limits -0 at -inf and +inf at +inf.
double SiluReference(double x) {
  if (std::isinf(x)) {
    return x > 0.0 ? x : -0.0;
  }
  const double e = std::exp(-std::fabs(x));
  return x < 0.0 ? x * e / (1.0 + e) : x / (1.0 + e);
}

double Reference(Function function, float x) {
  switch (function) {
    case kSigmoid: return SigmoidReference(x);
    case kTanh: return std::tanh(static_cast<double>(x));
    case kSoftplus: return SoftplusReference(x);
    case kLogSigmoid: return -SoftplusReference(-static_cast<double>(x));
    case kSoftsign: return SoftsignReference(x);
    case kSilu: return SiluReference(x);
    default: return std::exp(static_cast<double>(x));
  }
}

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint32_t BitsFromFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// Maps floats to integers whose difference is the number of representable values between them.
int64_t Ordinal(float value) {
  const uint32_t bits = BitsFromFloat(value);
  const int64_t magnitude = bits & 0x7FFFFFFFu;
  return (bits >> 31) != 0 ? -magnitude : magnitude;
}

uint64_t UlpDistance(float a, float b) {
  const int64_t d = Ordinal(a) - Ordinal(b);
  return static_cast<uint64_t>(d < 0 ? -d : d);
}

// Spacing of float32 values at |value| (the subnormal spacing below 2^-126).
double UlpOf(float value) {
  int exponent;
  std::frexp(std::fabs(static_cast<double>(value)), &exponent);
  const int ulp_exponent = exponent - 24 < -149 ? -149 : exponent - 24;
  return std::ldexp(1.0, ulp_exponent);
}

struct Stats {
  uint64_t max_ulp = 0;
  float max_ulp_input = 0.0f;
  double max_error = 0.0;  // fractional ulp
  float max_error_input = 0.0f;
  uint64_t nan_mismatches = 0;
  uint64_t inf_mismatches = 0;
  uint64_t sign_mismatches = 0;
  float first_mismatch_input = 0.0f;
  uint64_t tiny_results = 0;
  uint64_t tiny_violations = 0;
  double tiny_max_error = 0.0;  // absolute, in units of 2^-126
  float tiny_max_error_input = 0.0f;

  void RecordMismatch(uint64_t* counter, float x) {
    if (nan_mismatches + inf_mismatches + sign_mismatches == 0) {
      first_mismatch_input = x;
    }
    ++*counter;
  }

  void Merge(const Stats& other) {
    if (other.max_ulp > max_ulp) {
      max_ulp = other.max_ulp;
      max_ulp_input = other.max_ulp_input;
    }
    if (other.max_error > max_error) {
      max_error = other.max_error;
      max_error_input = other.max_error_input;
    }
    const uint64_t other_mismatches = other.nan_mismatches + other.inf_mismatches + other.sign_mismatches;
    if (nan_mismatches + inf_mismatches + sign_mismatches == 0 && other_mismatches != 0) {
      first_mismatch_input = other.first_mismatch_input;
    }
    nan_mismatches += other.nan_mismatches;
    inf_mismatches += other.inf_mismatches;
    sign_mismatches += other.sign_mismatches;
    tiny_results += other.tiny_results;
    tiny_violations += other.tiny_violations;
    if (other.tiny_max_error > tiny_max_error) {
      tiny_max_error = other.tiny_max_error;
      tiny_max_error_input = other.tiny_max_error_input;
    }
  }
};

void Check(float x, double reference, float result, Stats* stats) {
  if (std::isnan(x) || std::isnan(reference)) {
    if (!std::isnan(result)) {
      stats->RecordMismatch(&stats->nan_mismatches, x);
    }
    return;
  }
  if (std::isnan(result)) {
    stats->RecordMismatch(&stats->nan_mismatches, x);
    return;
  }
  const float rounded = static_cast<float>(reference);
  if (std::isinf(rounded) || std::isinf(result)) {
    if (rounded != result) {
      stats->RecordMismatch(&stats->inf_mismatches, x);
    }
    return;
  }
  if (std::signbit(rounded) != std::signbit(result)) {
    stats->RecordMismatch(&stats->sign_mismatches, x);
    return;
  }

  if (std::fabs(reference) < kTinyResult) {
    ++stats->tiny_results;
    const double error = std::fabs(static_cast<double>(result) - reference) / kTinyResult;
    if (error > 1.0) {
      ++stats->tiny_violations;
    }
    if (error > stats->tiny_max_error) {
      stats->tiny_max_error = error;
      stats->tiny_max_error_input = x;
    }
    return;
  }

  uint64_t distance = UlpDistance(result, rounded);
  // Near a midpoint the float64 reference cannot decide the rounding: accept the nearer neighbour.
  const float other = std::nextafter(rounded, static_cast<double>(rounded) < reference ? INFINITY : -INFINITY);
  const double midpoint = 0.5 * (static_cast<double>(rounded) + static_cast<double>(other));
  if (std::fabs(reference - midpoint) <= std::fabs(reference) * kMidpointWindow) {
    const uint64_t other_distance = UlpDistance(result, other);
    distance = other_distance < distance ? other_distance : distance;
  }
  if (distance > stats->max_ulp) {
    stats->max_ulp = distance;
    stats->max_ulp_input = x;
  }
  const double error = std::fabs(static_cast<double>(result) - reference) / UlpOf(rounded);
  if (error > stats->max_error) {
    stats->max_error = error;
    stats->max_error_input = x;
  }
}

// Runs one function of a kernel set over x[0, n) into y. silu runs with beta = 1, TensorFlow's default.
void RunFunction(const simd_nn::KernelSet& kernels, Function function, const float* x, float* y, size_t n) {
  switch (function) {
    case kSigmoid: kernels.sigmoid(x, y, n); break;
    case kTanh: kernels.tanh(x, y, n); break;
    case kSoftplus: kernels.softplus(x, y, n); break;
    case kLogSigmoid: kernels.log_sigmoid(x, y, n); break;
    case kSoftsign: kernels.softsign(x, y, n); break;
    case kSilu: kernels.silu(x, y, n, 1.0f); break;
    default: kernels.exp(x, y, n); break;
  }
}

struct Options {
  unsigned threads;
  uint64_t stride;
  bool functions[kFunctionCount];
};

void SweepBlocks(const std::vector<const simd_nn::KernelSet*>& sets, const Options& options,
                 std::atomic<uint64_t>* next, std::vector<Stats>* totals, std::mutex* totals_mutex) {
  const uint64_t block_span = kBlockSize * options.stride;
  std::vector<float> x(kBlockSize);
  std::vector<float> y(kBlockSize);
  std::vector<double> reference(kBlockSize);
  std::vector<Stats> local(sets.size() * kFunctionCount);

  for (;;) {
    const uint64_t first = next->fetch_add(block_span);
    if (first >= kPatternCount) {
      break;
    }
    size_t count = 0;
    for (uint64_t pattern = first; pattern < kPatternCount && count < kBlockSize; pattern += options.stride) {
      x[count++] = FloatFromBits(static_cast<uint32_t>(pattern));
    }
    for (int f = 0; f < kFunctionCount; ++f) {
      if (!options.functions[f]) {
        continue;
      }
      const Function function = static_cast<Function>(f);
      for (size_t i = 0; i < count; ++i) {
        reference[i] = std::isnan(x[i]) ? NAN : Reference(function, x[i]);
      }
      for (size_t s = 0; s < sets.size(); ++s) {
        RunFunction(*sets[s], function, x.data(), y.data(), count);
        Stats* stats = &local[s * kFunctionCount + f];
        for (size_t i = 0; i < count; ++i) {
          Check(x[i], reference[i], y[i], stats);
        }
      }
    }
  }

  const std::lock_guard<std::mutex> lock(*totals_mutex);
  for (size_t i = 0; i < local.size(); ++i) {
    (*totals)[i].Merge(local[i]);
  }
}

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

// Marks the functions named in a comma-separated list, and only those. Returns false for an unknown name.
bool SelectFunctions(const std::string& list, bool* selected) {
  for (int f = 0; f < kFunctionCount; ++f) {
    selected[f] = false;
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool known = false;
    for (int f = 0; f < kFunctionCount; ++f) {
      if (name == kFunctionNames[f]) {
        selected[f] = true;
        known = true;
      }
    }
    if (!known) {
      std::fprintf(stderr, "Unknown function \"%s\" in --functions. Known: sigmoid, tanh, softplus, log_sigmoid, "
                           "softsign, silu, exp.\n", name.c_str());
      return false;
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return true;
}

bool ParseOptions(int argc, char** argv, Options* options) {
  options->threads = std::thread::hardware_concurrency() > 0 ? std::thread::hardware_concurrency() : 1;
  options->stride = 1;
  for (bool& selected : options->functions) {
    selected = true;
  }
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--threads") == 0 && has_value) {
      options->threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (std::strcmp(argv[i], "--stride") == 0 && has_value) {
      options->stride = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--functions") == 0 && has_value) {
      if (!SelectFunctions(argv[++i], options->functions)) {
        return false;
      }
    } else {
      std::fprintf(stderr, "Invalid argument \"%s\".\nUsage: %s [--threads N] [--stride K] [--functions NAME,...]\n",
                   argv[i], argv[0]);
      return false;
    }
  }
  if (options->threads == 0 || options->stride == 0) {
    std::fprintf(stderr, "--threads and --stride must be positive integers.\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    return 2;
  }

  std::vector<const simd_nn::KernelSet*> sets;
  for (const char* name : {"scalar", "avx2", "avx512"}) {
    const simd_nn::KernelSet* kernels = simd_nn::FindSupportedKernels(name);
    if (kernels != nullptr) {
      sets.push_back(kernels);
    }
  }

  const uint64_t tested = (kPatternCount + options.stride - 1) / options.stride;
  std::printf("CPU: %s\n", CpuModel().c_str());
  std::printf("Sets: ");
  for (const simd_nn::KernelSet* set : sets) {
    std::printf("%s ", set->name);
  }
  std::printf("\nInputs: %llu float32 bit patterns (stride %llu), %u threads\n\n",
              static_cast<unsigned long long>(tested), static_cast<unsigned long long>(options.stride),
              options.threads);
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  std::atomic<uint64_t> next{0};
  std::vector<Stats> totals(sets.size() * kFunctionCount);
  std::mutex totals_mutex;
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < options.threads; ++t) {
    workers.emplace_back(SweepBlocks, std::cref(sets), std::cref(options), &next, &totals, &totals_mutex);
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("| set | function | max ulp | at x | max err (ulp) | at x | NaN/inf/sign mismatches | "
              "results < 2^-126: count, max err (2^-126), over allowance |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  bool failed = false;
  for (size_t s = 0; s < sets.size(); ++s) {
    for (int f = 0; f < kFunctionCount; ++f) {
      if (!options.functions[f]) {
        continue;
      }
      const Stats& stats = totals[s * kFunctionCount + f];
      std::printf("| %s | %s | %llu | %.9g | %.3f | %.9g | %llu/%llu/%llu | %llu, %.3f, %llu |\n",
                  sets[s]->name, kFunctionNames[f], static_cast<unsigned long long>(stats.max_ulp),
                  stats.max_ulp_input, stats.max_error, stats.max_error_input,
                  static_cast<unsigned long long>(stats.nan_mismatches),
                  static_cast<unsigned long long>(stats.inf_mismatches),
                  static_cast<unsigned long long>(stats.sign_mismatches),
                  static_cast<unsigned long long>(stats.tiny_results), stats.tiny_max_error,
                  static_cast<unsigned long long>(stats.tiny_violations));
      const uint64_t mismatches = stats.nan_mismatches + stats.inf_mismatches + stats.sign_mismatches;
      if (mismatches != 0) {
        std::printf("  first mismatch at x = %.9g (bits 0x%08x)\n", stats.first_mismatch_input,
                    BitsFromFloat(stats.first_mismatch_input));
      }
      if (stats.max_ulp > kBoundsUlp[f] || mismatches != 0 || stats.tiny_violations != 0) {
        failed = true;
      }
    }
  }
  std::printf("\nElapsed: %.1f s\n", seconds);
  if (failed) {
    std::printf("FAILED: a set exceeds a bound (softsign and exp 1 ulp, the others 2 ulp) or mismatches.\n");
    return 1;
  }
  std::printf("All sets within bounds (softsign and exp 1 ulp, the others 2 ulp).\n");
  return 0;
}
