#include "operation.h"

#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace simd_nn {
namespace {

constexpr const char* kAllocationFailed = "Failed to allocate scratch memory for a strided or broadcast layout.";

std::vector<float*> DataPointers(const Operation& operation) {
  std::vector<float*> data;
  data.reserve(operation.inputs.size() + operation.outputs.size());
  for (const FloatArray& array : operation.inputs) {
    data.push_back(array.data);
  }
  for (const FloatArray& array : operation.outputs) {
    data.push_back(array.data);
  }
  return data;
}

Napi::Value ResultValue(Napi::Env env, const Operation& operation, double result) {
  return operation.returns_number ? Napi::Number::New(env, result) : env.Undefined();
}

class OperationWorker : public Napi::AsyncWorker {
 public:
  OperationWorker(Napi::Env env, Operation operation, const ErrorFactory& errors)
      : Napi::AsyncWorker(env, "simd-nn"),
        deferred_(Napi::Promise::Deferred::New(env)),
        operation_(std::move(operation)) {
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
      result_ = operation_.run(data_.data());
    } catch (const std::bad_alloc&) {
      SetError(kAllocationFailed);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);

    // Every staged output is checked before any is written, so a failure leaves all of them untouched.
    for (size_t k = 0; k < operation_.outputs.size(); ++k) {
      const FloatArray& output = operation_.outputs[k];
      if (output.shared) {
        continue;
      }
      Napi::Float32Array array = output_references_[k].Value().As<Napi::Float32Array>();
      if (array.ArrayBuffer().IsDetached() || array.ElementLength() != output.length) {
        deferred_.Reject(errors_.Create(
            env, kInvalidArgValue,
            std::string("The \"") + output.name +
                "\" argument was detached or resized while the computation ran, so its result was discarded. "
                "Keep output arrays in place until the promise settles, or back them with a SharedArrayBuffer."));
        return;
      }
    }

    for (size_t k = 0; k < operation_.outputs.size(); ++k) {
      const FloatArray& output = operation_.outputs[k];
      if (output.shared || output.length == 0) {
        continue;
      }
      Napi::Float32Array array = output_references_[k].Value().As<Napi::Float32Array>();
      const float* result = data_[operation_.inputs.size() + k];
      std::memcpy(array.Data(), result, output.length * sizeof(float));
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
    const size_t count = operation_.inputs.size() + operation_.outputs.size();
    staged_.reserve(count);
    data_.reserve(count);

    for (const FloatArray& input : operation_.inputs) {
      input_references_.push_back(Napi::Persistent(Napi::Value(env, input.value)));
      if (input.shared) {
        data_.push_back(input.data);
      } else {
        staged_.emplace_back(input.data, input.data + input.length);
        data_.push_back(staged_.back().data());
      }
    }
    for (const FloatArray& output : operation_.outputs) {
      output_references_.push_back(Napi::Persistent(Napi::Value(env, output.value)));
      if (output.shared) {
        data_.push_back(output.data);
      } else {
        staged_.emplace_back(output.length);
        data_.push_back(staged_.back().data());
      }
    }
  }

  Napi::Promise::Deferred deferred_;
  Operation operation_;
  ErrorFactory errors_;
  std::vector<std::vector<float>> staged_;
  std::vector<float*> data_;
  std::vector<Napi::Reference<Napi::Value>> input_references_;
  std::vector<Napi::Reference<Napi::Value>> output_references_;
  double result_ = 0.0;
};

}  // namespace

Napi::Value RunNow(Napi::Env env, const Operation& operation, const ErrorFactory& errors) {
  const std::vector<float*> data = DataPointers(operation);
  double result = 0.0;
  try {
    result = operation.run(data.data());
  } catch (const std::bad_alloc&) {
    errors.Throw(env, kOutOfRange, kAllocationFailed);
  }
  return ResultValue(env, operation, result);
}

Napi::Value RunOnThreadPool(Napi::Env env, Operation operation, const ErrorFactory& errors) {
  OperationWorker* worker = nullptr;
  try {
    worker = new OperationWorker(env, std::move(operation), errors);
  } catch (const std::bad_alloc&) {
    errors.Throw(env, kOutOfRange, "Failed to allocate memory to stage the arrays of an asynchronous call.");
  }
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace simd_nn
