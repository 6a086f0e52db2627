// CUDA twins of gelu_grads.cc: GeluGrad, FastGeluGrad, BiasGeluGrad_dX, BiasFastGeluGrad_dX and
// QuickGeluGrad on CUDAExecutionProvider for float, double, float16 and bfloat16, with the same
// derivative functors (training_common.h) evaluated per element on the session's stream.
#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

template <typename T>
std::unique_ptr<OrtCustomOp> MakeCudaQuickGeluGradOp() {
  OpSpec spec{"QuickGeluGrad", {Req<T>(), Req<T>()}, {Req<T>()}};
  spec.provider = kCudaProvider;
  return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
    const QuickGeluDerivative fn{FloatAttr(info, "alpha", 1.702f)};
    return std::make_unique<CudaPointwiseGradKernel<T, QuickGeluDerivative>>("QuickGeluGrad", fn, false);
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("GeluGrad", false, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("FastGeluGrad", false, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("BiasGeluGrad_dX", true, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaPointwiseGradOp<T>("BiasFastGeluGrad_dX", true, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaQuickGeluGradOp<T>();
    });

}  // namespace
}  // namespace onnxmemopt::training::cuda
