// ReGelu2(X) -> Y, Code and ReGelu2Grad(dY, Code) -> dX, domain com.onnxmemopt v1, for float,
// float16 and bfloat16: exact erf-GELU forward, backward through the ReGELU2 step derivative.
// Optional attribute table: "yang2024" (default, the paper's table), "few-bit" (Few-Bit
// Backward's derivative-fitted 2-bit table) or "calibrated" (thresholds and levels given as
// attributes, fitted per layer); both ops of a pair must carry the same table
// (two_bit_table_attributes.h).
#include "activation_math.h"
#include "onnxmemopt/registry.h"
#include "two_bit_approx.h"
#include "two_bit_table_attributes.h"

namespace onnxmemopt::approx {
namespace {

FloatThresholds GeluThresholds(const OrtKernelInfo* info) {
  const ChosenTable chosen = GeluTableFrom(info);
  return MakeThresholds(chosen.table, chosen.threshold_divisor);
}

FloatLevels GeluLevels(const OrtKernelInfo* info) { return MakeLevels(GeluTableFrom(info).table); }

template <typename Elem>
class ReGelu2Kernel {
 public:
  ReGelu2Kernel(const OrtApi&, const OrtKernelInfo* info) : thresholds_(GeluThresholds(info)) {}
  void Compute(Ort::KernelContext& context) { RunForward<Elem>(context, GeluActivation{}, thresholds_); }

 private:
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReGelu2GradKernel {
 public:
  ReGelu2GradKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(GeluLevels(info)) {}
  void Compute(Ort::KernelContext& context) { RunBackward<Elem>(context, levels_); }

 private:
  FloatLevels levels_;
};

template <typename Elem>
OpSignature ForwardSignature(const char* provider) {
  return {"ReGelu2", provider, {Elem::kOnnxType}, {Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8}, &InferForwardShapes};
}

template <typename Elem>
OpSignature BackwardSignature(const char* provider) {
  return {"ReGelu2Grad", provider, {Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8}, {Elem::kOnnxType}, &InferBackwardShapes};
}

ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2Kernel<Fp32>>(ForwardSignature<Fp32>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2Kernel<Fp16>>(ForwardSignature<Fp16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2Kernel<Bf16>>(ForwardSignature<Bf16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradKernel<Fp32>>(BackwardSignature<Fp32>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradKernel<Fp16>>(BackwardSignature<Fp16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradKernel<Bf16>>(BackwardSignature<Bf16>(kCpuProvider)); });

#ifdef ONNXMEMOPT_USE_CUDA
template <typename Elem>
class ReGelu2CudaKernel {
 public:
  ReGelu2CudaKernel(const OrtApi&, const OrtKernelInfo* info)
      : thresholds_(GeluThresholds(info)) {}
  void Compute(Ort::KernelContext& context) {
    RunCudaForward<Elem>(context, cuda::Activation::kGelu, 1.0, thresholds_);
  }

 private:
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReGelu2GradCudaKernel {
 public:
  ReGelu2GradCudaKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(GeluLevels(info)) {}
  void Compute(Ort::KernelContext& context) { RunCudaBackward<Elem>(context, levels_); }

 private:
  FloatLevels levels_;
};

ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2CudaKernel<Fp32>>(ForwardSignature<Fp32>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2CudaKernel<Fp16>>(ForwardSignature<Fp16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2CudaKernel<Bf16>>(ForwardSignature<Bf16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradCudaKernel<Fp32>>(BackwardSignature<Fp32>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradCudaKernel<Fp16>>(BackwardSignature<Fp16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReGelu2GradCudaKernel<Bf16>>(BackwardSignature<Bf16>(kCudaProvider)); });
#endif

}  // namespace
}  // namespace onnxmemopt::approx
