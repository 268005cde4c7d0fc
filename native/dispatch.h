// Choice of the kernel set for the whole process: detected once, overridable by SIMD_NN_ISA.
#ifndef SIMD_NN_DISPATCH_H_
#define SIMD_NN_DISPATCH_H_

#include <cstddef>

#include "kernels/kernel_set.h"

namespace simd_nn {

// How the SIMD_NN_ISA request was met.
enum class IsaRequestStatus {
  kNone,         // SIMD_NN_ISA unset or empty: the best set the CPU supports is active.
  kHonored,      // The requested set is active.
  kUnavailable,  // The CPU or OS lacks the requested set: the best available one is active.
  kInvalid,      // The name is not a known set: the best available one is active.
};

struct IsaSelection {
  const KernelSet* active;
  IsaRequestStatus status;
  const char* requested;  // The SIMD_NN_ISA value, or "" when unset.
};

// Returns the selection, made on first use from the CPU and SIMD_NN_ISA. Safe to call from any thread.
const IsaSelection& GetIsaSelection();

// Returns the active kernel set. Reading it costs one atomic load.
const KernelSet& ActiveKernels();

// Writes the names of the sets this CPU supports, best first, and returns how many there are (at most 3).
size_t AvailableIsaNames(const char* names[3]);

// Returns the kernel set with this name if the CPU supports it, or null. Used by tests and the accuracy sweep.
const KernelSet* FindSupportedKernels(const char* name);

// Makes `kernels` active for the whole process. A test-only hook: production code selects once.
void SetActiveKernelsForTesting(const KernelSet* kernels);

}  // namespace simd_nn

#endif  // SIMD_NN_DISPATCH_H_
