// A checked call to a kernel, run either at once on the calling thread or on the libuv thread pool.
#ifndef SIMD_NN_OPERATION_H_
#define SIMD_NN_OPERATION_H_

#include <napi.h>

#include <functional>
#include <vector>

#include "arguments.h"

namespace simd_nn {

// An operation whose arguments passed every check: the arrays it reads and writes, and the kernel call.
struct Operation {
  std::vector<FloatArray> inputs;
  std::vector<FloatArray> outputs;
  // Runs the kernels on `data`: one pointer per input, then one per output, in the order above. Returns the
  // operation's numeric result (the l2 loss), or 0 for operations that only write outputs. It may throw
  // std::bad_alloc (scratch blocks for strided or broadcast layouts) before it writes anything.
  std::function<double(float* const* data)> run;
  bool returns_number = false;
};

// Runs the operation now, on the caller's memory. Returns undefined, or the number for l2 loss.
Napi::Value RunNow(Napi::Env env, const Operation& operation, const ErrorFactory& errors);

// Queues the operation on the libuv thread pool and returns a promise of undefined or the number.
//
// Memory backed by a SharedArrayBuffer is used in place: it can be neither detached nor shrunk while the work
// runs. Any other input is copied now, and any other output receives its result when the work completes, on
// the JavaScript thread, after a check that it is still attached and of the same length. The caller could
// transfer or resize such a buffer in between, and the thread pool must never write into freed memory.
Napi::Value RunOnThreadPool(Napi::Env env, Operation operation, const ErrorFactory& errors);

}  // namespace simd_nn

#endif  // SIMD_NN_OPERATION_H_
