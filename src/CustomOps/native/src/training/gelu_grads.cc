// GELU-family gradients of ONNX Runtime's training ops (com.microsoft, since 1):
//   GeluGrad(dY, X) -> dX                       exact GELU  y = x * Phi(x)
//   FastGeluGrad(dY, X) -> dX                   tanh form   y = 0.5 x (1 + tanh(a (x + g x^3)))
//   BiasGeluGrad_dX(dY, X, B) -> dX             GeluGrad at X + B (B along X's last dimension)
//   BiasFastGeluGrad_dX(dY, X, B) -> dX         FastGeluGrad at X + B
//   QuickGeluGrad(dY, X) -> dX, attr alpha      y = x * sigmoid(alpha x), alpha defaults to 1.702
// T is float16, float, double or bfloat16 for all five (training_op_defs.cc).
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

// The derivative functors live in training_common.h, shared with gelu_grads.cu.

template <typename T>
std::unique_ptr<OrtCustomOp> MakeQuickGeluGradOp() {
  OpSpec spec{"QuickGeluGrad", {Req<T>(), Req<T>()}, {Req<T>()}};
  return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
    const QuickGeluDerivative fn{FloatAttr(info, "alpha", 1.702f)};
    return std::make_unique<PointwiseGradKernel<T, QuickGeluDerivative>>("QuickGeluGrad", fn, false);
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("GeluGrad", false, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("FastGeluGrad", false, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("BiasGeluGrad_dX", true, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("BiasFastGeluGrad_dX", true, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeQuickGeluGradOp<T>();
    });

}  // namespace
}  // namespace onnxmemopt::training
