#include "arguments.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <limits>

namespace simd_nn {
namespace {

// Largest integer that a JavaScript number represents exactly (2^53 - 1).
constexpr double kMaxSafeInteger = 9007199254740991.0;

std::string Quoted(const char* name) { return std::string("\"") + name + "\""; }

// Formats a number as JavaScript's String(number) does for most values: NaN, Infinity, and otherwise the
// shortest %g form that reads back as the same double (1e+39, 0.1). Large integers below 1e21 come out in
// exponent form, where JavaScript writes all their digits.
std::string FormatNumber(double number) {
  if (std::isnan(number)) {
    return "NaN";
  }
  if (std::isinf(number)) {
    return number > 0 ? "Infinity" : "-Infinity";
  }
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, number);
    if (std::strtod(text, nullptr) == number) {
      break;
    }
  }
  return text;
}

// Returns the JavaScript typeof of a value, for messages.
const char* TypeName(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(env, value, &type) != napi_ok) {
    return "unknown";
  }
  switch (type) {
    case napi_undefined: return "undefined";
    case napi_null: return "object";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "object";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

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

// Uses the Node-API C functions directly: this runs for every array of every call, and each node-addon-api
// wrapper adds a round trip of its own.
FloatArray ArgumentChecker::TypedArray(size_t index, const char* name, napi_typedarray_type expected,
                                       const char* type_name) const {
  const napi_env env = Env();
  const napi_value value = info_[index];

  // napi_get_typedarray_info fails with napi_invalid_arg, and throws nothing, for a value that is not a typed
  // array, so it is also the type check.
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &buffer, nullptr) != napi_ok ||
      type != expected) {
    Fail(kInvalidArgType, "The " + Quoted(name) + " argument must be an instance of " + type_name + ".");
  }

  // A typed array's buffer is an ArrayBuffer or a SharedArrayBuffer. napi_is_arraybuffer checks V8's type of
  // the object itself, which no prototype change can fake. A detached buffer has no elements, so only an
  // empty view needs the detached check. A synchronous call skips the type query for non-empty views, which
  // saves a Node-API call per array.
  bool is_array_buffer = true;
  bool detached = false;
  if ((length == 0 || timing_ == Timing::kOnThreadPool) &&
      napi_is_arraybuffer(env, buffer, &is_array_buffer) != napi_ok) {
    throw Napi::Error::New(env);
  }
  if (is_array_buffer && length == 0 && napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok) {
    throw Napi::Error::New(env);
  }
  if (detached) {
    Fail(kInvalidArgValue, "The " + Quoted(name) +
                               " argument is a view of a detached ArrayBuffer. Pass an array whose buffer has "
                               "not been transferred.");
  }
  // napi_get_typedarray_info has already applied byteOffset to `data`.
  return FloatArray{name, static_cast<float*>(data), length, !is_array_buffer, value};
}

bool ArgumentChecker::IsNullish(size_t index) const {
  napi_valuetype type = napi_object;
  if (napi_typeof(Env(), info_[index], &type) != napi_ok) {
    throw Napi::Error::New(Env());
  }
  return type == napi_undefined || type == napi_null;
}

size_t ArgumentChecker::Size(size_t index, const char* name) const {
  // napi_get_value_double fails for anything but a number, which then counts as invalid.
  double number = -1.0;
  if (napi_get_value_double(Env(), info_[index], &number) != napi_ok) {
    number = -1.0;
  }
  if (!(number >= 0.0 && number <= kMaxSafeInteger && std::floor(number) == number)) {
    Fail(kOutOfRange, "The " + Quoted(name) + " argument must be a non-negative safe integer.");
  }
  return static_cast<size_t>(number);
}

double ArgumentChecker::PositiveNumber(size_t index, const char* name) const {
  double number = -1.0;
  if (napi_get_value_double(Env(), info_[index], &number) != napi_ok) {
    number = -1.0;
  }
  if (!(number > 0.0 && number <= std::numeric_limits<double>::max())) {
    Fail(kOutOfRange, "The " + Quoted(name) + " argument must be a positive finite number.");
  }
  return number;
}

float ArgumentChecker::FiniteFloat32(size_t index, const char* name) const {
  double number = 0.0;
  if (napi_get_value_double(Env(), info_[index], &number) != napi_ok) {
    Fail(kInvalidArgType, "The " + Quoted(name) + " argument must be of type number. Received type " +
                              TypeName(Env(), info_[index]));
  }
  const float rounded = static_cast<float>(number);
  if (!std::isfinite(rounded)) {
    Fail(kOutOfRange, "The " + Quoted(name) + " argument must be a finite number in float32 range. Received " +
                          FormatNumber(number));
  }
  return rounded;
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
