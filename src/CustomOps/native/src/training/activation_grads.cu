// CUDA twins of activation_grads.cc: ReluGrad, SigmoidGrad and TanhGrad on
// CUDAExecutionProvider for float, double, float16 and bfloat16.
#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("ReluGrad", false, ReluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("SigmoidGrad", false, SigmoidDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("TanhGrad", false, TanhDerivative{});
    });

}  // namespace
}  // namespace onnxmemopt::training::cuda
