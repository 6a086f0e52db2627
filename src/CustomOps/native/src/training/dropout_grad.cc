// DropoutGrad(dy, mask, ratio?, training_mode?) -> dx (com.microsoft, since 1).
// dx = mask ? dy / (1 - ratio) : 0 with ratio defaulting to 0.5, and dx = dy when ratio is 0.
// When training_mode is given and false the forward Dropout was the identity (it drops nothing
// and emits an all-true mask), so dx = dy; ONNX Runtime's CPU kernel ignores training_mode and
// would scale by 1/(1 - ratio) there, which is not the gradient of that forward.
// T: float16, float, double, bfloat16; ratio (T1): the same four types; mask, training_mode: bool.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

template <typename T>
class DropoutGradKernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue mask = context.GetInput(1);
    const Shape shape = ShapeOf(dy);
    Require(ShapeOf(mask) == shape, "DropoutGrad: dy " + ShapeText(shape) + " and mask " + ShapeText(ShapeOf(mask)) +
                                        " must have the same shape");
    const double ratio = HasInput(context, 2) ? ScalarAsDouble(context.GetInput(2), "DropoutGrad ratio") : 0.5;
    Require(ratio >= 0.0 && ratio < 1.0, "DropoutGrad: ratio must be in [0, 1)");
    const bool training = !HasInput(context, 3) || *context.GetInput(3).GetTensorData<bool>();
    const int64_t count = ElementCount(shape);
    T* dx = context.GetOutput(0, shape).GetTensorMutableData<T>();
    const T* dy_data = dy.GetTensorData<T>();
    if (count == 0) {
      return;
    }
    if (ratio == 0.0 || !training) {
      std::memcpy(dx, dy_data, static_cast<size_t>(count) * sizeof(T));
      return;
    }
    using C = ComputeOf<T>;
    const C scale = static_cast<C>(1.0 / (1.0 - ratio));
    const bool* keep = mask.GetTensorData<bool>();
    ParallelRange(context, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        dx[i] = Element<T>::Store(keep[i] ? Element<T>::Load(dy_data[i]) * scale : C(0));
      }
    });
  }
};

template <typename T>
bool RegisterForRatioTypes() {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
    using T1 = typename decltype(tag)::type;
    OpSpec spec{"DropoutGrad", {Req<T>(), Req<bool>(), Opt<T1>(), Opt<bool>()}, {Req<T>()}};
    return MakeOp(std::move(spec), [](const OrtKernelInfo*) { return std::make_unique<DropoutGradKernel<T>>(); });
  });
}

[[maybe_unused]] const bool kRegistered = RegisterForRatioTypes<float>() && RegisterForRatioTypes<double>() &&
                                          RegisterForRatioTypes<Ort::Float16_t>() &&
                                          RegisterForRatioTypes<Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training
