#include "arguments.h"

#include <cmath>
#include <cstdint>

namespace simd_nn {
namespace {

// Largest integer that a JavaScript number represents exactly (2^53 - 1).
constexpr double kMaxSafeInteger = 9007199254740991.0;

std::string Quoted(const char* name) { return std::string("\"") + name + "\""; }

}  // namespace

Napi::Value ErrorFactory::Create(Napi::Env env, const char* code, const std::string& message) const {
  if (!factory_.IsEmpty()) {
    return factory_.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
  }

  // Only reachable before the facade registers its factory, that is, by calling the binding directly.
  Napi::Error error = std::string(code) == kOutOfRange ? Napi::Error(Napi::RangeError::New(env, message))
                                                       : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, code));
  return error.Value();
}

void ErrorFactory::Throw(Napi::Env env, const char* code, const std::string& message) const {
  throw Napi::Error(env, Create(env, code, message));
}

FloatArray ArgumentChecker::Float32Array(size_t index, const char* name) const {
  const Napi::Value value = info_[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Fail(kInvalidArgType, "The " + Quoted(name) + " argument must be an instance of Float32Array.");
  }

  Napi::Float32Array array = value.As<Napi::Float32Array>();
  // A typed array's buffer is an ArrayBuffer or a SharedArrayBuffer. IsArrayBuffer() checks V8's type of the
  // object itself, which no prototype change can fake.
  const Napi::Value buffer = array.Buffer();
  const bool shared = !buffer.IsArrayBuffer();
  if (!shared && buffer.As<Napi::ArrayBuffer>().IsDetached()) {
    Fail(kInvalidArgValue, "The " + Quoted(name) +
                               " argument is a view of a detached ArrayBuffer. Pass an array whose buffer has "
                               "not been transferred.");
  }
  return FloatArray{name, array.Data(), array.ElementLength(), shared, value};
}

bool ArgumentChecker::IsNullish(size_t index) const { return info_[index].IsUndefined() || info_[index].IsNull(); }

size_t ArgumentChecker::Size(size_t index, const char* name) const {
  const Napi::Value value = info_[index];
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1.0;
  if (!(number >= 0.0 && number <= kMaxSafeInteger && std::floor(number) == number)) {
    Fail(kOutOfRange, "The " + Quoted(name) + " argument must be a non-negative safe integer.");
  }
  return static_cast<size_t>(number);
}

RowLayout ArgumentChecker::Layout(size_t first_index, const FloatArray& array) const {
  const RowLayout layout{Size(first_index, "rows"), Size(first_index + 1, "classes"), Size(first_index + 2, "inner")};
  if (!IsValidLayout(layout, array.length)) {
    Fail(kInvalidArgValue, "The layout of the " + Quoted(array.name) + " argument (rows " +
                               std::to_string(layout.rows) + ", classes " + std::to_string(layout.classes) +
                               ", inner " + std::to_string(layout.inner) + ") does not match its length " +
                               std::to_string(array.length) + ".");
  }
  return layout;
}

void ArgumentChecker::RequireLength(const FloatArray& array, size_t expected) const {
  if (array.length != expected) {
    Fail(kInvalidArgValue, "The " + Quoted(array.name) + " argument must have length " + std::to_string(expected) +
                               ". Received length " + std::to_string(array.length) + ".");
  }
}

void ArgumentChecker::RejectOverlap(const FloatArray& output, const FloatArray& other, bool allow_exact) const {
  if (output.length == 0 || other.length == 0) {
    return;
  }
  const uintptr_t a = reinterpret_cast<uintptr_t>(output.data);
  const uintptr_t b = reinterpret_cast<uintptr_t>(other.data);
  const uintptr_t a_end = a + output.length * sizeof(float);
  const uintptr_t b_end = b + other.length * sizeof(float);
  if (a_end <= b || b_end <= a) {
    return;
  }
  if (allow_exact && a == b && output.length == other.length) {
    return;
  }
  std::string message = "The " + Quoted(output.name) + " argument overlaps the " + Quoted(other.name) +
                        " argument in memory. ";
  message += allow_exact ? "Pass the same array to compute in place, or arrays that do not overlap."
                         : "Pass arrays that do not overlap.";
  Fail(kInvalidArgValue, message);
}

size_t ArgumentChecker::BroadcastDimension(const char* dimension_name, size_t labels, size_t logits) const {
  if (labels == logits || logits == 1) {
    return labels;
  }
  if (labels == 1) {
    return logits;
  }
  Fail(kInvalidArgValue, std::string("The \"labels\" and \"logits\" arguments must have equal ") + dimension_name +
                             " counts, or 1 on one side to broadcast. Received " + std::to_string(labels) + " and " +
                             std::to_string(logits) + ".");
}

}  // namespace simd_nn
