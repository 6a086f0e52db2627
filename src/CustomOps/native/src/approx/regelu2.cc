// ReGelu2(X) -> Y, Code and ReGelu2Grad(dY, Code) -> dX, domain com.onnxmemopt v1, for float,
// float16 and bfloat16: exact erf-GELU forward, backward through the ReGELU2 step derivative.
// Optional attribute table: "yang2024" (default, the paper's table) or "few-bit" (Few-Bit
// Backward's derivative-fitted 2-bit table); both ops of a pair must carry the same table.
#include "activation_math.h"
#include "onnxmemopt/registry.h"
#include "two_bit_approx.h"

namespace onnxmemopt::approx {
namespace {

const StepTable& GeluTable(const OrtKernelInfo* info) {
  const std::string name = StringAttr(info, "table", "yang2024");
  if (name == "yang2024") return kReGelu2Table;
  if (name == "few-bit") return kFewBitGelu2Table;
  throw Ort::Exception("ReGelu2: attribute table must be \"yang2024\" or \"few-bit\", got \"" + name + "\"",
                       ORT_INVALID_ARGUMENT);
}

template <typename Elem>
class ReGelu2Kernel {
 public:
  ReGelu2Kernel(const OrtApi&, const OrtKernelInfo* info) : thresholds_(MakeThresholds(GeluTable(info), 1.0)) {}
  void Compute(Ort::KernelContext& context) { RunForward<Elem>(context, GeluActivation{}, thresholds_); }

 private:
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReGelu2GradKernel {
 public:
  ReGelu2GradKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(MakeLevels(GeluTable(info))) {}
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
      : thresholds_(MakeThresholds(GeluTable(info), 1.0)) {}
  void Compute(Ort::KernelContext& context) {
    RunCudaForward<Elem>(context, cuda::Activation::kGelu, 1.0, thresholds_);
  }

 private:
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReGelu2GradCudaKernel {
 public:
  ReGelu2GradCudaKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(MakeLevels(GeluTable(info))) {}
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
