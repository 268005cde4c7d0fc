// The Node-API binding. The TypeScript facade validates arguments and builds the messages users see. This
// file checks again everything the kernels rely on (types, lengths, layouts, overlap, detached buffers),
// because any JavaScript can call the binding directly, and no call may crash the process or write out of
// bounds. Every check runs before the first output byte is written.
//
// Each operation is parsed once into an Operation, then run either now (`relu`) or on the libuv thread pool
// (`reluAsync`, which returns a promise).
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "arguments.h"
#include "dispatch.h"
#include "operation.h"
#include "ops.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SIMD_NN_HAS_MXCSR 1
#endif

namespace simd_nn {
namespace {

using ElementwiseKernel = void (*KernelSet::*)(const float*, float*, size_t);
using Parser = Operation (*)(const ArgumentChecker& args);

// (x, out): out = f(x) element-wise; out may be exactly x.
// Checks that `out` has x's length and overlaps it only exactly, then returns the operation that reads x and
// writes out with the active set. The caller adds the call's parameters and its run function.
Operation OneToOneOperation(const ArgumentChecker& args, const FloatArray& x, const FloatArray& out) {
  args.RequireLength(out, x.length);
  args.RejectOverlap(out, x, true);

  Operation operation;
  operation.AddInput(x);
  operation.AddOutput(out);
  operation.call.kernels = &ActiveKernels();
  return operation;
}

template <ElementwiseKernel Kernel>
Operation ParseElementwise(const ArgumentChecker& args) {
  const FloatArray x = args.Float32Array(0, "x");
  const FloatArray out = args.Float32Array(1, "out");

  Operation operation = OneToOneOperation(args, x, out);
  operation.call.length = x.length;
  operation.run = [](const KernelCall& call, float* const* data) {
    (call.kernels->*Kernel)(data[0], data[1], call.length);
    return 0.0;
  };
  return operation;
}

// (x, out, parameter): out may be exactly x. The parameter is a number, rounded to float32, and must be finite
// there. Returns the operation with its length and parameter set; the caller adds the run function.
Operation ParameterizedOperation(const ArgumentChecker& args, const char* parameter_name) {
  const FloatArray x = args.Float32Array(0, "x");
  const FloatArray out = args.Float32Array(1, "out");
  const float parameter = args.FiniteFloat32(2, parameter_name);

  Operation operation = OneToOneOperation(args, x, out);
  operation.call.length = x.length;
  operation.call.parameter = parameter;
  return operation;
}

// (x, out, alpha)
Operation ParseLeakyRelu(const ArgumentChecker& args) {
  Operation operation = ParameterizedOperation(args, "alpha");
  operation.run = [](const KernelCall& call, float* const* data) {
    call.kernels->leaky_relu(data[0], data[1], call.length, call.parameter);
    return 0.0;
  };
  return operation;
}

// (x, out, beta)
Operation ParseSilu(const ArgumentChecker& args) {
  Operation operation = ParameterizedOperation(args, "beta");
  operation.run = [](const KernelCall& call, float* const* data) {
    call.kernels->silu(data[0], data[1], call.length, call.parameter);
    return 0.0;
  };
  return operation;
}

// (logits, out, rows, classes, inner): out may be exactly logits.
Operation ParseSoftmax(const ArgumentChecker& args) {
  const FloatArray x = args.Float32Array(0, "logits");
  const FloatArray out = args.Float32Array(1, "out");
  const RowLayout layout = args.Layout(2, x);

  Operation operation = OneToOneOperation(args, x, out);
  operation.call.layout = layout;
  operation.run = [](const KernelCall& call, float* const* data) {
    Softmax(*call.kernels, data[0], data[1], call.layout);
    return 0.0;
  };
  return operation;
}

// Returns the operation of a checked cross-entropy: labels and logits in, the losses and any backprop out, and
// the fields of KernelCall both kinds of labels use.
Operation CrossEntropyOperation(const FloatArray& labels, const FloatArray& logits, const FloatArray& loss,
                                const FloatArray* backprop, size_t rows, size_t classes) {
  Operation operation;
  operation.AddInput(labels);
  operation.AddInput(logits);
  operation.AddOutput(loss);
  if (backprop != nullptr) {
    operation.AddOutput(*backprop);
  }
  operation.call.kernels = &ActiveKernels();
  operation.call.rows = rows;
  operation.call.classes = classes;
  operation.call.has_backprop = backprop != nullptr;
  return operation;
}

// (labels, logits, loss, backprop or null, labelsRows, labelsClasses, labelsInner,
//  logitsRows, logitsClasses, logitsInner, backpropInner)
Operation ParseSoftmaxCrossEntropy(const ArgumentChecker& args) {
  const FloatArray labels = args.Float32Array(0, "labels");
  const FloatArray logits = args.Float32Array(1, "logits");
  const FloatArray loss = args.Float32Array(2, "out");
  const bool has_backprop = !args.IsNullish(3);
  const FloatArray backprop = has_backprop ? args.Float32Array(3, "backprop") : FloatArray{};

  const RowLayout labels_layout = args.Layout(4, labels);
  const RowLayout logits_layout = args.Layout(7, logits);
  const size_t rows = args.BroadcastDimension("row", labels_layout.rows, logits_layout.rows);
  const size_t classes = args.BroadcastDimension("class", labels_layout.classes, logits_layout.classes);
  if (classes == 0) {
    args.Fail(kOutOfRange, "The number of classes must be at least 1 for a cross-entropy. Received 0.");
  }
  args.RequireLength(loss, rows);

  const RowLayout backprop_layout{rows, classes, has_backprop ? args.Size(10, "backpropInner") : 1};
  if (has_backprop) {
    args.RequireLength(backprop, rows * classes);
    if (!IsValidLayout(backprop_layout, backprop.length)) {
      args.Fail(kInvalidArgValue, "The \"backpropInner\" argument must divide the number of rows.");
    }
    // Blocks of logits are read before their gradient is written, which makes exact aliasing safe only when
    // both have the same rows and layout.
    const bool same_layout = logits_layout.rows == rows && logits_layout.classes == classes &&
                             logits_layout.inner == backprop_layout.inner;
    args.RejectOverlap(backprop, logits, same_layout);
    args.RejectOverlap(backprop, labels, false);
    args.RejectOverlap(loss, backprop, false);
  }
  args.RejectOverlap(loss, labels, false);
  args.RejectOverlap(loss, logits, false);

  Operation operation =
      CrossEntropyOperation(labels, logits, loss, has_backprop ? &backprop : nullptr, rows, classes);
  operation.call.labels_layout = labels_layout;
  operation.call.logits_layout = logits_layout;
  operation.call.backprop_layout = backprop_layout;
  operation.run = [](const KernelCall& call, float* const* data) {
    const RowView labels_view{data[0], call.labels_layout};
    const RowView logits_view{data[1], call.logits_layout};
    SoftmaxCrossEntropy(*call.kernels, labels_view, logits_view, call.rows, call.classes, data[2],
                        call.has_backprop ? data[3] : nullptr, call.backprop_layout);
    return 0.0;
  };
  return operation;
}

// (x, out, rows, classes, inner, epsilon): out may be exactly x; epsilon is a positive finite number.
Operation ParseL2Normalize(const ArgumentChecker& args) {
  const FloatArray x = args.Float32Array(0, "x");
  const FloatArray out = args.Float32Array(1, "out");
  const RowLayout layout = args.Layout(2, x);
  const double epsilon = args.PositiveNumber(5, "epsilon");

  Operation operation = OneToOneOperation(args, x, out);
  operation.call.layout = layout;
  operation.call.epsilon = epsilon;
  operation.run = [](const KernelCall& call, float* const* data) {
    L2Normalize(*call.kernels, data[0], data[1], call.layout, call.epsilon);
    return 0.0;
  };
  return operation;
}

// (labels, logits, loss, backprop or null, rows, classes): labels is an Int32Array of one class id per row,
// logits are dense rows x classes.
Operation ParseSparseSoftmaxCrossEntropy(const ArgumentChecker& args) {
  const FloatArray labels = args.Int32Array(0, "labels");
  const FloatArray logits = args.Float32Array(1, "logits");
  const FloatArray loss = args.Float32Array(2, "out");
  const bool has_backprop = !args.IsNullish(3);
  const FloatArray backprop = has_backprop ? args.Float32Array(3, "backprop") : FloatArray{};
  const size_t rows = args.Size(4, "rows");
  const size_t classes = args.Size(5, "classes");

  if (classes == 0) {
    args.Fail(kOutOfRange, "The number of classes must be at least 1 for a cross-entropy. Received 0.");
  }
  if (!IsValidLayout(RowLayout{rows, classes, 1}, logits.length)) {
    args.Fail(kInvalidArgValue, "The layout of the \"logits\" argument (rows " + std::to_string(rows) +
                                    ", classes " + std::to_string(classes) + ") does not match its length " +
                                    std::to_string(logits.length) + ".");
  }
  args.RequireLength(labels, rows);
  args.RequireLength(loss, rows);
  if (has_backprop) {
    args.RequireLength(backprop, rows * classes);
    args.RejectOverlap(backprop, logits, true);
    args.RejectOverlap(backprop, labels, false);
    args.RejectOverlap(loss, backprop, false);
  }
  args.RejectOverlap(loss, labels, false);
  args.RejectOverlap(loss, logits, false);

  // The kernel indexes a block by these ids, so every one is checked before anything is written.
  const int32_t* ids = reinterpret_cast<const int32_t*>(labels.data);
  for (size_t r = 0; r < rows; ++r) {
    if (ids[r] < 0 || static_cast<size_t>(ids[r]) >= classes) {
      args.Fail(kOutOfRange, "The \"labels[" + std::to_string(r) + "]\" argument must be a class id in [0, " +
                                 std::to_string(classes - 1) + "]. Received " + std::to_string(ids[r]));
    }
  }

  Operation operation =
      CrossEntropyOperation(labels, logits, loss, has_backprop ? &backprop : nullptr, rows, classes);
  operation.run = [](const KernelCall& call, float* const* data) {
    SparseSoftmaxCrossEntropy(*call.kernels, data[0], data[1], call.rows, call.classes, data[2],
                              call.has_backprop ? data[3] : nullptr);
    return 0.0;
  };
  return operation;
}

// (labels, logits, out): out may be exactly either input.
Operation ParseSigmoidCrossEntropy(const ArgumentChecker& args) {
  const FloatArray labels = args.Float32Array(0, "labels");
  const FloatArray logits = args.Float32Array(1, "logits");
  const FloatArray out = args.Float32Array(2, "out");
  args.RequireLength(logits, labels.length);
  args.RequireLength(out, labels.length);
  args.RejectOverlap(out, labels, true);
  args.RejectOverlap(out, logits, true);

  Operation operation;
  operation.AddInput(labels);
  operation.AddInput(logits);
  operation.AddOutput(out);
  operation.call.kernels = &ActiveKernels();
  operation.call.length = labels.length;
  operation.run = [](const KernelCall& call, float* const* data) {
    call.kernels->sigmoid_xent(data[0], data[1], data[2], call.length);
    return 0.0;
  };
  return operation;
}

// (t): sum(t^2) / 2 rounded to float32, as a number.
Operation ParseL2Loss(const ArgumentChecker& args) {
  const FloatArray t = args.Float32Array(0, "t");

  Operation operation;
  operation.AddInput(t);
  operation.call.kernels = &ActiveKernels();
  operation.call.length = t.length;
  operation.run = [](const KernelCall& call, float* const* data) {
    const double half_sum = call.kernels->sum_squares(data[0], call.length) / 2.0;
    return static_cast<double>(static_cast<float>(half_sum));
  };
  operation.returns_number = true;
  return operation;
}

}  // namespace

class SimdNnAddon : public Napi::Addon<SimdNnAddon> {
 public:
  SimdNnAddon(Napi::Env /*env*/, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("setErrorFactory", &SimdNnAddon::SetErrorFactory),
        InstanceMethod("info", &SimdNnAddon::Info),
        InstanceMethod("claimIsaWarning", &SimdNnAddon::ClaimIsaWarning),
        InstanceMethod("isDetached", &SimdNnAddon::IsDetached),
        InstanceMethod("relu", &SimdNnAddon::Now<ParseElementwise<&KernelSet::relu>>),
        InstanceMethod("reluAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::relu>>),
        InstanceMethod("sigmoid", &SimdNnAddon::Now<ParseElementwise<&KernelSet::sigmoid>>),
        InstanceMethod("sigmoidAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::sigmoid>>),
        InstanceMethod("tanh", &SimdNnAddon::Now<ParseElementwise<&KernelSet::tanh>>),
        InstanceMethod("tanhAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::tanh>>),
        InstanceMethod("relu6", &SimdNnAddon::Now<ParseElementwise<&KernelSet::relu6>>),
        InstanceMethod("relu6Async", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::relu6>>),
        InstanceMethod("leakyRelu", &SimdNnAddon::Now<ParseLeakyRelu>),
        InstanceMethod("leakyReluAsync", &SimdNnAddon::OnThreadPool<ParseLeakyRelu>),
        InstanceMethod("softplus", &SimdNnAddon::Now<ParseElementwise<&KernelSet::softplus>>),
        InstanceMethod("softplusAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::softplus>>),
        InstanceMethod("logSigmoid", &SimdNnAddon::Now<ParseElementwise<&KernelSet::log_sigmoid>>),
        InstanceMethod("logSigmoidAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::log_sigmoid>>),
        InstanceMethod("silu", &SimdNnAddon::Now<ParseSilu>),
        InstanceMethod("siluAsync", &SimdNnAddon::OnThreadPool<ParseSilu>),
        InstanceMethod("softsign", &SimdNnAddon::Now<ParseElementwise<&KernelSet::softsign>>),
        InstanceMethod("softsignAsync", &SimdNnAddon::OnThreadPool<ParseElementwise<&KernelSet::softsign>>),
        InstanceMethod("softmax", &SimdNnAddon::Now<ParseSoftmax>),
        InstanceMethod("softmaxAsync", &SimdNnAddon::OnThreadPool<ParseSoftmax>),
        InstanceMethod("softmaxCrossEntropy", &SimdNnAddon::Now<ParseSoftmaxCrossEntropy>),
        InstanceMethod("softmaxCrossEntropyAsync", &SimdNnAddon::OnThreadPool<ParseSoftmaxCrossEntropy>),
        InstanceMethod("sparseSoftmaxCrossEntropy", &SimdNnAddon::Now<ParseSparseSoftmaxCrossEntropy>),
        InstanceMethod("sparseSoftmaxCrossEntropyAsync",
                       &SimdNnAddon::OnThreadPool<ParseSparseSoftmaxCrossEntropy>),
        InstanceMethod("sigmoidCrossEntropy", &SimdNnAddon::Now<ParseSigmoidCrossEntropy>),
        InstanceMethod("sigmoidCrossEntropyAsync", &SimdNnAddon::OnThreadPool<ParseSigmoidCrossEntropy>),
        InstanceMethod("l2Normalize", &SimdNnAddon::Now<ParseL2Normalize>),
        InstanceMethod("l2NormalizeAsync", &SimdNnAddon::OnThreadPool<ParseL2Normalize>),
        InstanceMethod("l2Loss", &SimdNnAddon::Now<ParseL2Loss>),
        InstanceMethod("l2LossAsync", &SimdNnAddon::OnThreadPool<ParseL2Loss>),
        // Test-only hooks, not re-exported by the facade.
        InstanceMethod("testingSetIsa", &SimdNnAddon::TestingSetIsa),
        InstanceMethod("testingExp", &SimdNnAddon::Now<ParseElementwise<&KernelSet::exp>>),
        InstanceMethod("testingReadMxcsr", &SimdNnAddon::TestingReadMxcsr),
    });
  }

 private:
  template <Parser Parse>
  Napi::Value Now(const Napi::CallbackInfo& info) {
    const ArgumentChecker args(info, errors_, ArgumentChecker::Timing::kNow);
    return RunNow(info.Env(), Parse(args), errors_);
  }

  template <Parser Parse>
  Napi::Value OnThreadPool(const Napi::CallbackInfo& info) {
    const ArgumentChecker args(info, errors_, ArgumentChecker::Timing::kOnThreadPool);
    return RunOnThreadPool(info.Env(), Parse(args), errors_);
  }

  // Stores the JavaScript function (code, message) => Error, so that errors thrown here are instances of the
  // same classes, with the same `code`, as those the facade throws.
  Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
    if (!info[0].IsFunction()) {
      errors_.Throw(info.Env(), kInvalidArgType, "The \"factory\" argument must be a function.");
    }
    errors_.Set(info[0].As<Napi::Function>());
    return info.Env().Undefined();
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

  // Returns true to the first caller in the process, so that a warning about the process-wide choice of kernel
  // set is emitted once, not once per worker thread.
  Napi::Value ClaimIsaWarning(const Napi::CallbackInfo& info) {
    static std::atomic<bool> claimed{false};
    return Napi::Boolean::New(info.Env(), !claimed.exchange(true));
  }

  // Returns whether a Float32Array's buffer is detached. On Node 20 a detached view just reports length 0, so
  // only native code can tell it from an empty array.
  Napi::Value IsDetached(const Napi::CallbackInfo& info) {
    bool detached = false;
    if (info[0].IsTypedArray()) {
      const Napi::Value buffer = info[0].As<Napi::TypedArray>().Buffer();
      detached = buffer.IsArrayBuffer() && buffer.As<Napi::ArrayBuffer>().IsDetached();
    }
    return Napi::Boolean::New(info.Env(), detached);
  }

  // (name): makes the named kernel set active for the whole process; returns false if the CPU lacks it.
  Napi::Value TestingSetIsa(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) {
      errors_.Throw(info.Env(), kInvalidArgType, "The \"name\" argument must be of type string.");
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

  ErrorFactory errors_;
};

}  // namespace simd_nn

using simd_nn::SimdNnAddon;
NODE_API_ADDON(SimdNnAddon)
