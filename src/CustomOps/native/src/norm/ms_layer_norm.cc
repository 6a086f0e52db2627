// MsLayerNorm(X) -> Z, InvStdDev and MsLayerNormGrad(dZ, Z, InvStdDev) -> dX: layer normalisation
// without affine whose backward needs only its output (MS-LN).
// Domain com.onnxmemopt v1; float, float16, bfloat16; attributes axis (default -1) and epsilon
// (default 1e-5) on the forward op, axis on the gradient.
#include "ms_norm.h"
#include "onnxmemopt/registry.h"

namespace onnxmemopt::norm {
namespace {

constexpr bool kCentred = true;
constexpr const char* kForward = "MsLayerNorm";
constexpr const char* kBackward = "MsLayerNormGrad";

template <typename Elem>
using Forward = NormForwardKernel<Elem, kCentred>;
template <typename Elem>
using Backward = NormBackwardKernel<Elem, kCentred>;

ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Forward<Fp32>>(ForwardSignature<Fp32>(kForward, kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Forward<Fp16>>(ForwardSignature<Fp16>(kForward, kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Forward<Bf16>>(ForwardSignature<Bf16>(kForward, kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Backward<Fp32>>(BackwardSignature<Fp32>(kBackward, kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Backward<Fp16>>(BackwardSignature<Fp16>(kBackward, kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<Backward<Bf16>>(BackwardSignature<Bf16>(kBackward, kCpuProvider)); });

#ifdef ONNXMEMOPT_USE_CUDA
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Forward<Fp32>>>(ForwardSignature<Fp32>(kForward, kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Forward<Fp16>>>(ForwardSignature<Fp16>(kForward, kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Forward<Bf16>>>(ForwardSignature<Bf16>(kForward, kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Backward<Fp32>>>(BackwardSignature<Fp32>(kBackward, kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Backward<Fp16>>>(BackwardSignature<Fp16>(kBackward, kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<OnCuda<Backward<Bf16>>>(BackwardSignature<Bf16>(kBackward, kCudaProvider)); });
#endif

}  // namespace
}  // namespace onnxmemopt::norm
