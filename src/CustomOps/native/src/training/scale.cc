// Scale(input, scale) -> output, attr scale_down = 0 (com.microsoft, since 1).
// output = input * scale, or input / scale with scale_down (ONNX Runtime's ReduceMean gradient
// divides by Size(X)/Size(dY) this way). `scale` is a single value.
// T: float16, float, double; ScaleT: float16, float, double, int64, int32.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

template <typename T>
class ScaleKernel final : public TrainingKernel {
 public:
  explicit ScaleKernel(bool scale_down) : scale_down_(scale_down) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue input = context.GetInput(0);
    const double scale = ScalarAsDouble(context.GetInput(1), "Scale scale");
    Require(!scale_down_ || scale != 0.0, "Scale: cannot scale down by 0");
    const Shape shape = ShapeOf(input);
    const int64_t count = ElementCount(shape);
    T* out = context.GetOutput(0, shape).GetTensorMutableData<T>();
    const T* in = input.GetTensorData<T>();
    using C = ComputeOf<T>;
    const C factor = static_cast<C>(scale_down_ ? 1.0 / scale : scale);
    ParallelRange(context, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        out[i] = Element<T>::Store(Element<T>::Load(in[i]) * factor);
      }
    });
  }

 private:
  bool scale_down_;
};

template <typename T>
bool RegisterForScaleTypes() {
  return RegisterForEach<Ort::Float16_t, float, double, int64_t, int32_t>(kMicrosoftDomain, [](auto tag) {
    using ScaleT = typename decltype(tag)::type;
    OpSpec spec{"Scale", {Req<T>(), Req<ScaleT>()}, {Req<T>()}};
    return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
      return std::make_unique<ScaleKernel<T>>(IntAttr(info, "scale_down", 0) != 0);
    });
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForScaleTypes<float>() && RegisterForScaleTypes<double>() && RegisterForScaleTypes<Ort::Float16_t>();

}  // namespace
}  // namespace onnxmemopt::training
