#include "dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(SIMD_NN_HAVE_X86_SETS)
#include <cpuid.h>
#endif

namespace simd_nn {
namespace {

bool AlwaysSupported() { return true; }

#if defined(SIMD_NN_HAVE_X86_SETS)
// Returns whether the CPU has PREFETCHW (CPUID leaf 0x80000001, ECX bit 8, "PRFCHW"). It reads CPUID itself,
// because clang's __builtin_cpu_supports does not know "prfchw" (clang 14 rejects it at compile time).
[[maybe_unused]] bool SupportsPrefetchW() {
  unsigned eax = 0;
  unsigned ebx = 0;
  unsigned ecx = 0;
  unsigned edx = 0;
  return __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 8)) != 0;
}

// __builtin_cpu_supports reads CPUID and also checks, through XGETBV, that the OS saves the wider registers.
bool SupportsAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// The AVX-512 set uses the F, VL, BW and DQ subsets, and PREFETCHW (CPUID flag PRFCHW). A CPU that lacks any
// of them gets the AVX2 set.
bool SupportsAvx512() {
#if defined(SIMD_NN_EMULATED_AVX512)
  // The test build that emulates AVX-512 intrinsics (CMake option SIMD_NN_EMULATE_AVX512) needs only AVX2.
  return SupportsAvx2();
#else
  __builtin_cpu_init();
  return SupportsAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && SupportsPrefetchW();
#endif
}
#endif

struct RegistryEntry {
  const KernelSet* kernels;
  bool (*is_supported)();
};

// Ordered best first: the first supported entry is the default.
const RegistryEntry kRegistry[] = {
#if defined(SIMD_NN_HAVE_X86_SETS)
    {&avx512::kKernelSet, SupportsAvx512},
    {&avx2::kKernelSet, SupportsAvx2},
#endif
    {&scalar::kKernelSet, AlwaysSupported},
};

bool IsKnownName(const char* name) {
  // Every x86 set name is known even where it is not compiled in, so that SIMD_NN_ISA=avx2 on arm64 reports
  // "unavailable" rather than "invalid".
  return std::strcmp(name, "scalar") == 0 || std::strcmp(name, "avx2") == 0 || std::strcmp(name, "avx512") == 0;
}

const KernelSet* BestSupported() {
  for (const RegistryEntry& entry : kRegistry) {
    if (entry.is_supported()) {
      return entry.kernels;
    }
  }
  return &scalar::kKernelSet;
}

IsaSelection Select() {
  const char* requested = std::getenv("SIMD_NN_ISA");
  if (requested == nullptr || requested[0] == '\0') {
    return {BestSupported(), IsaRequestStatus::kNone, ""};
  }
  if (!IsKnownName(requested)) {
    return {BestSupported(), IsaRequestStatus::kInvalid, requested};
  }
  const KernelSet* kernels = FindSupportedKernels(requested);
  if (kernels == nullptr) {
    return {BestSupported(), IsaRequestStatus::kUnavailable, requested};
  }
  return {kernels, IsaRequestStatus::kHonored, requested};
}

std::atomic<const KernelSet*> g_active{nullptr};

}  // namespace

const IsaSelection& GetIsaSelection() {
  // A function-local static is initialized once, thread-safely, on first use. Unlike std::call_once it needs no
  // pthread_once, whose glibc symbol version would raise the prebuilt binary's glibc requirement to 2.34.
  static const IsaSelection selection = [] {
    const IsaSelection made = Select();
    g_active.store(made.active, std::memory_order_release);
    return made;
  }();
  return selection;
}

const KernelSet& ActiveKernels() {
  const KernelSet* kernels = g_active.load(std::memory_order_acquire);
  if (kernels == nullptr) {
    kernels = GetIsaSelection().active;
  }
  return *kernels;
}

size_t AvailableIsaNames(const char* names[3]) {
  size_t count = 0;
  for (const RegistryEntry& entry : kRegistry) {
    if (count < 3 && entry.is_supported()) {
      names[count++] = entry.kernels->name;
    }
  }
  return count;
}

const KernelSet* FindSupportedKernels(const char* name) {
  for (const RegistryEntry& entry : kRegistry) {
    if (std::strcmp(entry.kernels->name, name) == 0 && entry.is_supported()) {
      return entry.kernels;
    }
  }
  return nullptr;
}

void SetActiveKernelsForTesting(const KernelSet* kernels) {
  GetIsaSelection();
  g_active.store(kernels, std::memory_order_release);
}

}  // namespace simd_nn
