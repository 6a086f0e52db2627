// Gradients of simple activations (com.microsoft, since 1; T float16, float, double, bfloat16):
//   ReluGrad(dY, X) -> dX        dX = dY where X > 0, else 0. ONNX Runtime's gradient builder
//                                passes Relu's output as X, which has the same sign pattern.
//   SigmoidGrad(dY, Y) -> dX     dX = dY * Y * (1 - Y), Y = sigmoid(x) from the forward pass.
//   TanhGrad(dY, Y) -> dX        dX = dY * (1 - Y^2),   Y = tanh(x) from the forward pass.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

// The derivative functors live in training_common.h, shared with activation_grads.cu.

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("ReluGrad", false, ReluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("SigmoidGrad", false, SigmoidDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("TanhGrad", false, TanhDerivative{});
    });

}  // namespace
}  // namespace onnxmemopt::training
