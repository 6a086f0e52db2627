// Gradient accumulation of ONNX Runtime's training ops (com.microsoft, since 1):
//   InPlaceAccumulatorV2(accumulation_buffer, value, overwrite_flag?) -> updated_flag, accumulation_buffer_out?
//       buffer = overwrite_flag ? value : buffer + value; updated_flag = [true]
//   InPlaceAccumulator(old_sum, value, update_signal?) -> new_sum
//       new_sum = update_signal == false ? old_sum : old_sum + value
// InPlaceAccumulatorV2 writes INTO its first input, exactly as ONNX Runtime's kernel does (its
// kernel declares output 1 an alias of input 0): on-device training artifacts only output
// updated_flag, and the trainer reads the accumulated gradient back from the buffer it fed as
// `<param>_grad.accumulation.buffer`. The buffer must therefore be a fed graph input, never an
// initializer. accumulation_buffer_out, when requested, receives a copy.
// T: float16, float, double, bfloat16 with T_GRAD = T, plus float buffers accumulating
// float16/bfloat16 gradients. `value` has the buffer's element count or is a single value.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

template <typename T, typename TGrad>
void AccumulateInto(const Ort::KernelContext& context, T* target, const T* base, const Ort::ConstValue& value,
                    int64_t count, bool overwrite, const char* op) {
  const int64_t value_count = ElementCount(ShapeOf(value));
  Require(value_count == count || value_count == 1,
          std::string(op) + ": value has " + std::to_string(value_count) + " elements, the buffer " + std::to_string(count));
  const TGrad* v = value.GetTensorData<TGrad>();
  const int64_t v_step = value_count == 1 ? 0 : 1;
  using C = ComputeOf<T>;
  ParallelRange(context, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C add = static_cast<C>(Element<TGrad>::Load(v[i * v_step]));
      target[i] = Element<T>::Store(overwrite ? add : static_cast<C>(Element<T>::Load(base[i]) + add));
    }
  });
}

template <typename T, typename TGrad>
class InPlaceAccumulatorV2Kernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue buffer = context.GetInput(0);
    const Shape shape = ShapeOf(buffer);
    const int64_t count = ElementCount(shape);
    const bool overwrite = HasInput(context, 2) && *context.GetInput(2).GetTensorData<bool>();
    // The documented in-place update of the fed buffer (see the file comment).
    T* data = const_cast<T*>(buffer.GetTensorData<T>());
    AccumulateInto<T, TGrad>(context, data, data, context.GetInput(1), count, overwrite, "InPlaceAccumulatorV2");

    *context.GetOutput(0, Shape{1}).GetTensorMutableData<bool>() = true;
    if (context.GetOutputCount() > 1) {
      auto out = context.GetOutput(1, shape);
      if (out != nullptr && count > 0) {
        T* out_data = out.GetTensorMutableData<T>();
        if (out_data != data) {
          std::memcpy(out_data, data, static_cast<size_t>(count) * sizeof(T));
        }
      }
    }
  }
};

template <typename T, typename TGrad>
class InPlaceAccumulatorKernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue old_sum = context.GetInput(0);
    const Shape shape = ShapeOf(old_sum);
    const int64_t count = ElementCount(shape);
    const bool update = !HasInput(context, 2) || *context.GetInput(2).GetTensorData<bool>();
    T* out = context.GetOutput(0, shape).GetTensorMutableData<T>();
    const T* base = old_sum.GetTensorData<T>();
    if (!update) {
      if (count > 0 && out != base) {
        std::memcpy(out, base, static_cast<size_t>(count) * sizeof(T));
      }
      return;
    }
    AccumulateInto<T, TGrad>(context, out, base, context.GetInput(1), count, false, "InPlaceAccumulator");
  }
};

template <typename T, typename TGrad>
bool RegisterPair() {
  return RegisterForEach<T>(kMicrosoftDomain,
                            [](auto) {
                              OpSpec spec{"InPlaceAccumulatorV2", {Req<T>(), Req<TGrad>(), Opt<bool>()}, {Req<bool>(), Opt<T>()}};
                              return MakeOp(std::move(spec), [](const OrtKernelInfo*) {
                                return std::make_unique<InPlaceAccumulatorV2Kernel<T, TGrad>>();
                              });
                            }) &&
         RegisterForEach<T>(kMicrosoftDomain, [](auto) {
           OpSpec spec{"InPlaceAccumulator", {Req<T>(), Req<TGrad>(), Opt<bool>()}, {Req<T>()}};
           return MakeOp(std::move(spec),
                         [](const OrtKernelInfo*) { return std::make_unique<InPlaceAccumulatorKernel<T, TGrad>>(); });
         });
}

[[maybe_unused]] const bool kRegistered =
    RegisterPair<float, float>() && RegisterPair<double, double>() && RegisterPair<Ort::Float16_t, Ort::Float16_t>() &&
    RegisterPair<Ort::BFloat16_t, Ort::BFloat16_t>() && RegisterPair<float, Ort::Float16_t>() &&
    RegisterPair<float, Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training
