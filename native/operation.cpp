#include "operation.h"

#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace simd_nn {
namespace {

constexpr const char* kAllocationFailed = "Failed to allocate scratch memory for a strided or broadcast layout.";

Napi::Value ResultValue(Napi::Env env, const Operation& operation, double result) {
  return operation.returns_number ? Napi::Number::New(env, result) : env.Undefined();
}

class OperationWorker : public Napi::AsyncWorker {
 public:
  OperationWorker(Napi::Env env, const Operation& operation, const ErrorFactory& errors)
      : Napi::AsyncWorker(env, "simd-nn"), deferred_(Napi::Promise::Deferred::New(env)), operation_(operation) {
    // The worker keeps its own reference to the factory, so it never depends on the addon instance outliving
    // the work.
    const Napi::Function factory = errors.Function();
    if (!factory.IsEmpty()) {
      errors_.Set(factory);
    }
    Stage(env);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = operation_.run(operation_.call, data_);
    } catch (const std::bad_alloc&) {
      SetError(kAllocationFailed);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);

    // Every staged output is checked before any is written, so a failure leaves all of them untouched.
    for (size_t k = 0; k < operation_.output_count; ++k) {
      const FloatArray& output = operation_.Output(k);
      if (output.shared) {
        continue;
      }
      Napi::Float32Array array = OutputArray(k);
      if (array.ArrayBuffer().IsDetached() || array.ElementLength() != output.length) {
        deferred_.Reject(errors_.Create(
            env, kInvalidArgValue,
            std::string("The \"") + output.name +
                "\" argument was detached or resized while the computation ran, so its result was discarded. "
                "Keep output arrays in place until the promise settles, or back them with a SharedArrayBuffer."));
        return;
      }
    }

    for (size_t k = 0; k < operation_.output_count; ++k) {
      const FloatArray& output = operation_.Output(k);
      if (output.shared || output.length == 0) {
        continue;
      }
      std::memcpy(OutputArray(k).Data(), data_[operation_.input_count + k], output.length * sizeof(float));
    }
    deferred_.Resolve(ResultValue(env, operation_, result_));
  }

  void OnError(const Napi::Error& error) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(errors_.Create(Env(), kOutOfRange, error.Message()));
  }

 private:
  // Points the kernels at shared memory directly and at private copies of everything else, and holds a
  // reference to every array so that none is collected before the work completes.
  void Stage(Napi::Env env) {
    staged_.reserve(operation_.ArrayCount());
    for (size_t i = 0; i < operation_.ArrayCount(); ++i) {
      const FloatArray& array = operation_.arrays[i];
      const bool is_input = i < operation_.input_count;
      references_.push_back(Napi::Persistent(Napi::Value(env, array.value)));

      if (array.shared) {
        data_[i] = array.data;
      } else if (is_input) {
        // Copied as bytes, because an Int32Array input (FloatArray) contains no floats.
        staged_.emplace_back(array.length);
        if (array.length != 0) {
          std::memcpy(staged_.back().data(), array.data, array.length * sizeof(float));
        }
        data_[i] = staged_.back().data();
      } else {
        staged_.emplace_back(array.length);
        data_[i] = staged_.back().data();
      }
    }
  }

  Napi::Float32Array OutputArray(size_t k) {
    return references_[operation_.input_count + k].Value().As<Napi::Float32Array>();
  }

  Napi::Promise::Deferred deferred_;
  Operation operation_;
  ErrorFactory errors_;
  std::vector<std::vector<float>> staged_;
  float* data_[kMaxOperationArrays] = {};
  std::vector<Napi::Reference<Napi::Value>> references_;
  double result_ = 0.0;
};

}  // namespace

Napi::Value RunNow(Napi::Env env, const Operation& operation, const ErrorFactory& errors) {
  float* data[kMaxOperationArrays] = {};
  for (size_t i = 0; i < operation.ArrayCount(); ++i) {
    data[i] = operation.arrays[i].data;
  }

  double result = 0.0;
  try {
    result = operation.run(operation.call, data);
  } catch (const std::bad_alloc&) {
    errors.Throw(env, kOutOfRange, kAllocationFailed);
  }
  return ResultValue(env, operation, result);
}

Napi::Value RunOnThreadPool(Napi::Env env, const Operation& operation, const ErrorFactory& errors) {
  OperationWorker* worker = nullptr;
  try {
    worker = new OperationWorker(env, operation, errors);
  } catch (const std::bad_alloc&) {
    errors.Throw(env, kOutOfRange, "Failed to allocate memory to stage the arrays of an asynchronous call.");
  }
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace simd_nn
