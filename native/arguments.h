// Argument checks of the Node-API binding. Each throws a JavaScript error built by the facade's error factory,
// so native errors have the same classes and codes as the facade's.
#ifndef SIMD_NN_ARGUMENTS_H_
#define SIMD_NN_ARGUMENTS_H_

#include <napi.h>

#include <cstddef>
#include <string>

#include "ops.h"

namespace simd_nn {

// Node-style codes. The JavaScript error factory maps ERR_OUT_OF_RANGE to RangeError and the rest to TypeError.
inline constexpr const char* kInvalidArgType = "ERR_INVALID_ARG_TYPE";
inline constexpr const char* kInvalidArgValue = "ERR_INVALID_ARG_VALUE";
inline constexpr const char* kOutOfRange = "ERR_OUT_OF_RANGE";

// Builds and throws JavaScript errors through the factory (code, message) => Error that the facade registers.
// One per Node.js environment, because a JavaScript function belongs to one environment.
class ErrorFactory {
 public:
  void Set(Napi::Function factory) { factory_ = Napi::Persistent(factory); }

  // Returns the registered factory, or an empty function before registration.
  Napi::Function Function() const { return factory_.IsEmpty() ? Napi::Function() : factory_.Value(); }

  // Returns a new error object for the code, built by the factory once it is registered.
  Napi::Value Create(Napi::Env env, const char* code, const std::string& message) const;

  [[noreturn]] void Throw(Napi::Env env, const char* code, const std::string& message) const;

 private:
  Napi::FunctionReference factory_;
};

// A Float32Array argument: its data pointer (byteOffset already applied by Node-API) and element count. An
// Int32Array argument (ArgumentChecker::Int32Array) uses it too, with `data` pointing at int32 elements: such
// memory is only ever read back as int32_t or copied as bytes.
struct FloatArray {
  const char* name;
  float* data;
  size_t length;
  // True when a SharedArrayBuffer backs the view: such memory can be neither detached nor shrunk, so
  // asynchronous work may use it in place. Checked for calls on the thread pool and for empty views; false
  // for other views of calls run now, which do not use it.
  bool shared;
  napi_value value;
};

// The checks share the calling environment and its error factory.
class ArgumentChecker {
 public:
  // When the checked call will run: the thread pool needs to know which arrays are shared (FloatArray::shared).
  enum class Timing { kNow, kOnThreadPool };

  ArgumentChecker(const Napi::CallbackInfo& info, const ErrorFactory& errors, Timing timing)
      : info_(info), errors_(errors), timing_(timing) {}

  Napi::Env Env() const { return info_.Env(); }

  [[noreturn]] void Fail(const char* code, const std::string& message) const { errors_.Throw(Env(), code, message); }

  // Returns argument `index` as a Float32Array, rejecting other types and detached buffers.
  FloatArray Float32Array(size_t index, const char* name) const {
    return TypedArray(index, name, napi_float32_array, "Float32Array");
  }

  // Returns argument `index` as an Int32Array (see FloatArray), rejecting other types and detached buffers.
  FloatArray Int32Array(size_t index, const char* name) const {
    return TypedArray(index, name, napi_int32_array, "Int32Array");
  }

  // Returns whether argument `index` is undefined or null.
  bool IsNullish(size_t index) const;

  // Returns argument `index` as a non-negative safe integer.
  size_t Size(size_t index, const char* name) const;

  // Returns argument `index` as a positive finite number.
  double PositiveNumber(size_t index, const char* name) const;

  // Returns argument `index` rounded to float32, which must be finite (a number within +-3.4028235e38).
  float FiniteFloat32(size_t index, const char* name) const;

  // Returns the layout (rows, classes, inner) given as arguments first_index to first_index + 2, checked
  // against the array's length.
  RowLayout Layout(size_t first_index, const FloatArray& array) const;

  void RequireLength(const FloatArray& array, size_t expected) const;

  // Rejects an output that overlaps an input or another output, judged by address so that two views of one
  // buffer count. Exactly the same memory is allowed where the kernel supports in-place use.
  void RejectOverlap(const FloatArray& output, const FloatArray& other, bool allow_exact) const;

  // Returns the broadcast size of two dimensions (equal, or 1 on one side), or throws.
  size_t BroadcastDimension(const char* dimension_name, size_t labels, size_t logits) const;

 private:
  // Returns argument `index` as a typed array of 4-byte elements of the given type.
  FloatArray TypedArray(size_t index, const char* name, napi_typedarray_type expected, const char* type_name) const;

  const Napi::CallbackInfo& info_;
  const ErrorFactory& errors_;
  Timing timing_;
};

}  // namespace simd_nn

#endif  // SIMD_NN_ARGUMENTS_H_
