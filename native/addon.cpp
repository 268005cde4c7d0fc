// The Node-API binding. The TypeScript facade validates arguments and builds the messages users see. This
// file checks again everything the kernels rely on (types, lengths, layouts, overlap, detached buffers),
// because any JavaScript can call the binding directly, and no call may crash the process or write out of
// bounds. Every check runs before the first output byte is written.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <string>

#include "dispatch.h"
#include "ops.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SIMD_NN_HAS_MXCSR 1
#endif

namespace simd_nn {
namespace {

// Node-style codes. The JavaScript error factory maps ERR_OUT_OF_RANGE to RangeError and the rest to TypeError.
constexpr const char* kInvalidArgType = "ERR_INVALID_ARG_TYPE";
constexpr const char* kInvalidArgValue = "ERR_INVALID_ARG_VALUE";
constexpr const char* kOutOfRange = "ERR_OUT_OF_RANGE";

// Largest integer that a JavaScript number represents exactly (2^53 - 1).
constexpr double kMaxSafeInteger = 9007199254740991.0;

// A Float32Array argument: its data pointer (byteOffset already applied by Node-API) and element count.
struct FloatArray {
  const char* name;
  float* data;
  size_t length;
};

using ElementwiseKernel = void (*KernelSet::*)(const float*, float*, size_t);

}  // namespace

class SimdNnAddon : public Napi::Addon<SimdNnAddon> {
 public:
  SimdNnAddon(Napi::Env /*env*/, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("setErrorFactory", &SimdNnAddon::SetErrorFactory),
        InstanceMethod("info", &SimdNnAddon::Info),
        InstanceMethod("isDetached", &SimdNnAddon::IsDetached),
        InstanceMethod("relu", &SimdNnAddon::Relu),
        InstanceMethod("sigmoid", &SimdNnAddon::Sigmoid),
        InstanceMethod("tanh", &SimdNnAddon::Tanh),
        InstanceMethod("softmax", &SimdNnAddon::Softmax),
        InstanceMethod("softmaxCrossEntropy", &SimdNnAddon::SoftmaxCrossEntropy),
        InstanceMethod("sigmoidCrossEntropy", &SimdNnAddon::SigmoidCrossEntropy),
        InstanceMethod("l2Loss", &SimdNnAddon::L2Loss),
        // Test-only hooks, not re-exported by the facade.
        InstanceMethod("testingSetIsa", &SimdNnAddon::TestingSetIsa),
        InstanceMethod("testingExp", &SimdNnAddon::TestingExp),
        InstanceMethod("testingReadMxcsr", &SimdNnAddon::TestingReadMxcsr),
    });
  }

 private:
  // Stores the JavaScript function (code, message) => Error, so that errors thrown here are instances of the
  // same classes, with the same `code`, as those the facade throws.
  Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
    if (!info[0].IsFunction()) {
      ThrowError(info.Env(), kInvalidArgType, "The \"factory\" argument must be a function.");
    }
    error_factory_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  [[noreturn]] void ThrowError(Napi::Env env, const char* code, const std::string& message) {
    if (!error_factory_.IsEmpty()) {
      Napi::Value error = error_factory_.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
      throw Napi::Error(env, error);
    }
    Napi::Error error = std::string(code) == kOutOfRange ? Napi::Error(Napi::RangeError::New(env, message))
                                                         : Napi::Error(Napi::TypeError::New(env, message));
    error.Set("code", Napi::String::New(env, code));
    throw error;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const IsaSelection& selection = GetIsaSelection();

    const char* names[3];
    const size_t count = AvailableIsaNames(names);
    Napi::Array available = Napi::Array::New(env, count);
    for (size_t i = 0; i < count; ++i) {
      available.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
    }

    const char* status = "none";
    switch (selection.status) {
      case IsaRequestStatus::kNone: status = "none"; break;
      case IsaRequestStatus::kHonored: status = "honored"; break;
      case IsaRequestStatus::kUnavailable: status = "unavailable"; break;
      case IsaRequestStatus::kInvalid: status = "invalid"; break;
    }

    Napi::Object result = Napi::Object::New(env);
    result.Set("isa", Napi::String::New(env, ActiveKernels().name));
    result.Set("available", available);
    result.Set("requested", Napi::String::New(env, selection.requested));
    result.Set("requestStatus", Napi::String::New(env, status));
    return result;
  }

  // Returns whether a Float32Array's buffer is detached. On Node 20 a detached view just reports length 0, so
  // only native code can tell it from an empty array.
  Napi::Value IsDetached(const Napi::CallbackInfo& info) {
    bool detached = false;
    if (info[0].IsTypedArray()) {
      detached = info[0].As<Napi::TypedArray>().ArrayBuffer().IsDetached();
    }
    return Napi::Boolean::New(info.Env(), detached);
  }

  FloatArray RequireFloat32Array(const Napi::CallbackInfo& info, size_t index, const char* name) {
    const Napi::Value value = info[index];
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      ThrowError(info.Env(), kInvalidArgType,
                 std::string("The \"") + name + "\" argument must be an instance of Float32Array.");
    }
    Napi::Float32Array array = value.As<Napi::Float32Array>();
    if (array.ArrayBuffer().IsDetached()) {
      ThrowError(info.Env(), kInvalidArgValue,
                 std::string("The \"") + name +
                     "\" argument is a view of a detached ArrayBuffer. Pass an array whose buffer has not been "
                     "transferred.");
    }
    return FloatArray{name, array.Data(), array.ElementLength()};
  }

  bool IsNullish(const Napi::Value& value) { return value.IsUndefined() || value.IsNull(); }

  size_t RequireSize(const Napi::CallbackInfo& info, size_t index, const char* name) {
    const Napi::Value value = info[index];
    const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(number >= 0.0 && number <= kMaxSafeInteger && std::floor(number) == number)) {
      ThrowError(info.Env(), kOutOfRange,
                 std::string("The \"") + name + "\" argument must be a non-negative safe integer.");
    }
    return static_cast<size_t>(number);
  }

  void RequireLength(Napi::Env env, const FloatArray& array, size_t expected) {
    if (array.length != expected) {
      ThrowError(env, kInvalidArgValue,
                 std::string("The \"") + array.name + "\" argument must have length " + std::to_string(expected) +
                     ". Received length " + std::to_string(array.length) + ".");
    }
  }

  // Rejects an output that overlaps an input or another output, judged by address so that two views of one
  // buffer count. Exactly the same memory is allowed where the kernel supports in-place use.
  void RejectOverlap(Napi::Env env, const FloatArray& output, const FloatArray& other, bool allow_exact) {
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
    std::string message = std::string("The \"") + output.name + "\" argument overlaps the \"" + other.name +
                          "\" argument in memory. ";
    message += allow_exact ? "Pass the same array to compute in place, or arrays that do not overlap."
                           : "Pass arrays that do not overlap.";
    ThrowError(env, kInvalidArgValue, message);
  }

  RowLayout RequireLayout(const Napi::CallbackInfo& info, size_t first_index, const FloatArray& array) {
    const RowLayout layout{RequireSize(info, first_index, "rows"), RequireSize(info, first_index + 1, "classes"),
                           RequireSize(info, first_index + 2, "inner")};
    if (!IsValidLayout(layout, array.length)) {
      ThrowError(info.Env(), kInvalidArgValue,
                 std::string("The layout of the \"") + array.name + "\" argument (rows " +
                     std::to_string(layout.rows) + ", classes " + std::to_string(layout.classes) + ", inner " +
                     std::to_string(layout.inner) + ") does not match its length " + std::to_string(array.length) +
                     ".");
    }
    return layout;
  }

  // Returns the broadcast size of two dimensions (equal, or 1 on one side), or throws.
  size_t BroadcastDimension(Napi::Env env, const char* dimension_name, size_t labels, size_t logits) {
    if (labels == logits || logits == 1) {
      return labels;
    }
    if (labels == 1) {
      return logits;
    }
    ThrowError(env, kInvalidArgValue,
               std::string("The \"labels\" and \"logits\" arguments must have equal ") + dimension_name +
                   " counts, or 1 on one side to broadcast. Received " + std::to_string(labels) + " and " +
                   std::to_string(logits) + ".");
  }

  // (x, out): y = f(x) element-wise; out may be exactly x.
  Napi::Value Elementwise(const Napi::CallbackInfo& info, ElementwiseKernel kernel) {
    Napi::Env env = info.Env();
    const FloatArray x = RequireFloat32Array(info, 0, "x");
    const FloatArray out = RequireFloat32Array(info, 1, "out");
    RequireLength(env, out, x.length);
    RejectOverlap(env, out, x, true);

    (ActiveKernels().*kernel)(x.data, out.data, x.length);
    return env.Undefined();
  }

  Napi::Value Relu(const Napi::CallbackInfo& info) { return Elementwise(info, &KernelSet::relu); }
  Napi::Value Sigmoid(const Napi::CallbackInfo& info) { return Elementwise(info, &KernelSet::sigmoid); }
  Napi::Value Tanh(const Napi::CallbackInfo& info) { return Elementwise(info, &KernelSet::tanh); }
  Napi::Value TestingExp(const Napi::CallbackInfo& info) { return Elementwise(info, &KernelSet::exp); }

  // (x, out, rows, classes, inner)
  Napi::Value Softmax(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const FloatArray x = RequireFloat32Array(info, 0, "logits");
    const FloatArray out = RequireFloat32Array(info, 1, "out");
    const RowLayout layout = RequireLayout(info, 2, x);
    RequireLength(env, out, x.length);
    RejectOverlap(env, out, x, true);

    RunGuarded(env, [&] { simd_nn::Softmax(ActiveKernels(), x.data, out.data, layout); });
    return env.Undefined();
  }

  // (labels, logits, loss, backprop or null, labelsRows, labelsClasses, labelsInner,
  //  logitsRows, logitsClasses, logitsInner, backpropInner)
  Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const FloatArray labels = RequireFloat32Array(info, 0, "labels");
    const FloatArray logits = RequireFloat32Array(info, 1, "logits");
    const FloatArray loss = RequireFloat32Array(info, 2, "out");
    const bool has_backprop = !IsNullish(info[3]);
    const FloatArray backprop = has_backprop ? RequireFloat32Array(info, 3, "backprop") : FloatArray{"", nullptr, 0};

    const RowLayout labels_layout = RequireLayout(info, 4, labels);
    const RowLayout logits_layout = RequireLayout(info, 7, logits);
    const size_t rows = BroadcastDimension(env, "row", labels_layout.rows, logits_layout.rows);
    const size_t classes = BroadcastDimension(env, "class", labels_layout.classes, logits_layout.classes);
    if (classes == 0) {
      ThrowError(env, kOutOfRange,
                 "The number of classes must be at least 1 for a cross-entropy. Received 0.");
    }
    RequireLength(env, loss, rows);

    const RowLayout backprop_layout{rows, classes, has_backprop ? RequireSize(info, 10, "backpropInner") : 1};
    if (has_backprop) {
      RequireLength(env, backprop, rows * classes);
      if (!IsValidLayout(backprop_layout, backprop.length)) {
        ThrowError(env, kInvalidArgValue, "The \"backpropInner\" argument must divide the number of rows.");
      }
      const bool same_layout = logits_layout.rows == rows && logits_layout.classes == classes &&
                               logits_layout.inner == backprop_layout.inner;
      RejectOverlap(env, backprop, logits, same_layout);
      RejectOverlap(env, backprop, labels, false);
      RejectOverlap(env, loss, backprop, false);
    }
    RejectOverlap(env, loss, labels, false);
    RejectOverlap(env, loss, logits, false);

    const RowView labels_view{labels.data, labels_layout};
    const RowView logits_view{logits.data, logits_layout};
    RunGuarded(env, [&] {
      simd_nn::SoftmaxCrossEntropy(ActiveKernels(), labels_view, logits_view, rows, classes, loss.data,
                                   has_backprop ? backprop.data : nullptr, backprop_layout);
    });
    return env.Undefined();
  }

  // (labels, logits, out): out may be exactly either input.
  Napi::Value SigmoidCrossEntropy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const FloatArray labels = RequireFloat32Array(info, 0, "labels");
    const FloatArray logits = RequireFloat32Array(info, 1, "logits");
    const FloatArray out = RequireFloat32Array(info, 2, "out");
    RequireLength(env, logits, labels.length);
    RequireLength(env, out, labels.length);
    RejectOverlap(env, out, labels, true);
    RejectOverlap(env, out, logits, true);

    ActiveKernels().sigmoid_xent(labels.data, logits.data, out.data, out.length);
    return env.Undefined();
  }

  // (x): returns sum(x^2) / 2 rounded to float32, as a number.
  Napi::Value L2Loss(const Napi::CallbackInfo& info) {
    const FloatArray x = RequireFloat32Array(info, 0, "t");
    const double half_sum = ActiveKernels().sum_squares(x.data, x.length) / 2.0;
    return Napi::Number::New(info.Env(), static_cast<double>(static_cast<float>(half_sum)));
  }

  // (name): makes the named kernel set active for the whole process; returns false if the CPU lacks it.
  Napi::Value TestingSetIsa(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) {
      ThrowError(info.Env(), kInvalidArgType, "The \"name\" argument must be of type string.");
    }
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const KernelSet* kernels = FindSupportedKernels(name.c_str());
    if (kernels != nullptr) {
      SetActiveKernelsForTesting(kernels);
    }
    return Napi::Boolean::New(info.Env(), kernels != nullptr);
  }

  // Returns the calling thread's MXCSR, or -1 where the CPU has none.
  Napi::Value TestingReadMxcsr(const Napi::CallbackInfo& info) {
#if defined(SIMD_NN_HAS_MXCSR)
    return Napi::Number::New(info.Env(), static_cast<double>(_mm_getcsr()));
#else
    return Napi::Number::New(info.Env(), -1);
#endif
  }

  // Runs work that may allocate scratch memory, turning an allocation failure into a JavaScript RangeError.
  template <typename Work>
  void RunGuarded(Napi::Env env, Work work) {
    try {
      work();
    } catch (const std::bad_alloc&) {
      ThrowError(env, kOutOfRange, "Failed to allocate scratch memory for a strided or broadcast layout.");
    }
  }

  Napi::FunctionReference error_factory_;
};

}  // namespace simd_nn

using simd_nn::SimdNnAddon;
NODE_API_ADDON(SimdNnAddon)
