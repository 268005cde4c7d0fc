// A checked call to a kernel, run either at once on the calling thread or on the libuv thread pool.
#ifndef SIMD_NN_OPERATION_H_
#define SIMD_NN_OPERATION_H_

#include <napi.h>

#include <cstddef>

#include "arguments.h"
#include "kernels/kernel_set.h"
#include "ops.h"

namespace simd_nn {

// The checked parameters of one kernel call. Each operation uses the fields it needs.
struct KernelCall {
  const KernelSet* kernels = nullptr;  // the set active when the call was checked
  size_t length = 0;                   // element-wise operations
  RowLayout layout{};                  // softmax, l2 normalization
  double epsilon = 0.0;                // l2 normalization
  float parameter = 0.0f;              // leaky_relu's alpha, silu's beta
  RowLayout labels_layout{};           // cross-entropy
  RowLayout logits_layout{};
  RowLayout backprop_layout{};
  size_t rows = 0;
  size_t classes = 0;
  bool has_backprop = false;
};

constexpr size_t kMaxOperationArrays = 4;

// An operation whose arguments passed every check: the arrays it reads and writes, and the kernel call. It has
// fixed-size storage and a plain function pointer, so a synchronous call allocates nothing.
struct Operation {
  FloatArray arrays[kMaxOperationArrays] = {};  // inputs first, then outputs
  size_t input_count = 0;
  size_t output_count = 0;
  KernelCall call;
  // Runs the kernels on `data`, one pointer per array in the order of `arrays`. Returns the numeric result
  // (the l2 loss), or 0 for operations that only write outputs. It may throw std::bad_alloc (scratch blocks
  // for strided or broadcast layouts) before it writes anything.
  double (*run)(const KernelCall& call, float* const* data) = nullptr;
  bool returns_number = false;

  // Inputs must all be added before the first output.
  void AddInput(const FloatArray& array) { arrays[input_count++] = array; }
  void AddOutput(const FloatArray& array) { arrays[input_count + output_count++] = array; }
  size_t ArrayCount() const { return input_count + output_count; }
  const FloatArray& Output(size_t k) const { return arrays[input_count + k]; }
};

// Runs the operation now, on the caller's memory. Returns undefined, or the number for l2 loss.
Napi::Value RunNow(Napi::Env env, const Operation& operation, const ErrorFactory& errors);

// Queues the operation on the libuv thread pool and returns a promise of undefined or the number.
//
// Memory backed by a SharedArrayBuffer is used in place: it can be neither detached nor shrunk while the work
// runs. Any other input is copied now, and any other output receives its result when the work completes, on
// the JavaScript thread, after a check that it is still attached and of the same length. The caller could
// transfer or resize such a buffer in between, and the thread pool must never write into freed memory.
Napi::Value RunOnThreadPool(Napi::Env env, const Operation& operation, const ErrorFactory& errors);

}  // namespace simd_nn

#endif  // SIMD_NN_OPERATION_H_
