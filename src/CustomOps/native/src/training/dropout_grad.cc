// DropoutGrad(dy, mask, ratio?, training_mode?) -> dx (com.microsoft, since 1).
// dx = mask ? dy / (1 - ratio) : 0 with ratio defaulting to 0.5, and dx = dy when ratio is 0.
// When training_mode is given and false the forward Dropout was the identity (it drops nothing
// and emits an all-true mask), so dx = dy; ONNX Runtime's CPU kernel ignores training_mode and
// would scale by 1/(1 - ratio) there, which is not the gradient of that forward.
// BitmaskDropoutGrad(dy, mask, ratio?, training_mode?) -> dx is the same with the mask packed as
// uint32 words, element i kept when bit (i % 32) of word i / 32 is set.
// T: float16, float, double, bfloat16; ratio (T1): the same four types; mask, training_mode: bool
// (BitmaskDropoutGrad's mask: uint32).
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

template <typename T, bool kBitmask>
class DropoutGradKernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue mask = context.GetInput(1);
    const Shape shape = ShapeOf(dy);
    if constexpr (kBitmask) {
      Require(ElementCount(ShapeOf(mask)) == (ElementCount(shape) + 31) / 32,
              "BitmaskDropoutGrad: the mask must hold one uint32 word per 32 elements of dy");
    } else {
      Require(ShapeOf(mask) == shape, "DropoutGrad: dy " + ShapeText(shape) + " and mask " + ShapeText(ShapeOf(mask)) +
                                          " must have the same shape");
    }
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
    const uint32_t* words = kBitmask ? mask.GetTensorData<uint32_t>() : nullptr;
    const bool* flags = kBitmask ? nullptr : mask.GetTensorData<bool>();
    ParallelRange(context, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        bool kept;
        if constexpr (kBitmask) {
          kept = ((words[i / 32] >> (i % 32)) & 1u) != 0;
        } else {
          kept = flags[i];
        }
        dx[i] = Element<T>::Store(kept ? Element<T>::Load(dy_data[i]) * scale : C(0));
      }
    });
  }
};

template <typename T>
bool RegisterForRatioTypes() {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain,
                                                 [](auto tag) {
                                                   using T1 = typename decltype(tag)::type;
                                                   OpSpec spec{"DropoutGrad",
                                                               {Req<T>(), Req<bool>(), Opt<T1>(), Opt<bool>()},
                                                               {Req<T>()}};
                                                   return MakeOp(std::move(spec), [](const OrtKernelInfo*) {
                                                     return std::make_unique<DropoutGradKernel<T, false>>();
                                                   });
                                                 }) &&
         RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
           using T1 = typename decltype(tag)::type;
           OpSpec spec{"BitmaskDropoutGrad", {Req<T>(), Req<uint32_t>(), Opt<T1>(), Opt<bool>()}, {Req<T>()}};
           return MakeOp(std::move(spec),
                         [](const OrtKernelInfo*) { return std::make_unique<DropoutGradKernel<T, true>>(); });
         });
}

[[maybe_unused]] const bool kRegistered = RegisterForRatioTypes<float>() && RegisterForRatioTypes<double>() &&
                                          RegisterForRatioTypes<Ort::Float16_t>() &&
                                          RegisterForRatioTypes<Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training
