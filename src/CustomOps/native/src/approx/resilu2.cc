// ReSilu2(X) -> Y, Code and ReSilu2Grad(dY, Code) -> dX, domain com.onnxmemopt v1, for float,
// float16 and bfloat16. Attribute alpha (default 1): Y = x * sigmoid(alpha x), which covers SiLU
// (alpha 1) and QuickGelu (alpha 1.702). Its derivative at x is SiLU'(alpha x), so the ReSiLU2
// levels apply with thresholds c_i / alpha. alpha must be positive (the interval order flips
// otherwise); both ops of a pair must carry the same alpha, which only moves the thresholds.
// Optional attribute table: "yang2024" (default, the paper's table) or "calibrated" (thresholds in
// units of x and levels given as attributes, fitted per layer; two_bit_table_attributes.h).
#include "activation_math.h"
#include "onnxmemopt/registry.h"
#include "two_bit_approx.h"
#include "two_bit_table_attributes.h"

namespace onnxmemopt::approx {
namespace {

float PositiveAlpha(const OrtKernelInfo* info) {
  const float alpha = FloatAttr(info, "alpha", 1.0f);
  if (!(alpha > 0.0f) || alpha == INFINITY) {
    throw Ort::Exception("ReSilu2: attribute alpha must be positive and finite, got " + std::to_string(alpha),
                         ORT_INVALID_ARGUMENT);
  }
  return alpha;
}

FloatThresholds SiluThresholds(const OrtKernelInfo* info, double alpha) {
  const ChosenTable chosen = SiluTableFrom(info, alpha);
  return MakeThresholds(chosen.table, chosen.threshold_divisor);
}

// The levels do not depend on alpha: the gradient reads it only to validate it.
FloatLevels SiluLevels(const OrtKernelInfo* info) { return MakeLevels(SiluTableFrom(info, PositiveAlpha(info)).table); }

template <typename Elem>
class ReSilu2Kernel {
 public:
  ReSilu2Kernel(const OrtApi&, const OrtKernelInfo* info)
      : alpha_(PositiveAlpha(info)), thresholds_(SiluThresholds(info, alpha_)) {}
  void Compute(Ort::KernelContext& context) { RunForward<Elem>(context, SiluActivation{alpha_}, thresholds_); }

 private:
  double alpha_;
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReSilu2GradKernel {
 public:
  ReSilu2GradKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(SiluLevels(info)) {}
  void Compute(Ort::KernelContext& context) { RunBackward<Elem>(context, levels_); }

 private:
  FloatLevels levels_;
};

template <typename Elem>
OpSignature ForwardSignature(const char* provider) {
  return {"ReSilu2", provider, {Elem::kOnnxType}, {Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8}, &InferForwardShapes};
}

template <typename Elem>
OpSignature BackwardSignature(const char* provider) {
  return {"ReSilu2Grad", provider, {Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8}, {Elem::kOnnxType}, &InferBackwardShapes};
}

ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2Kernel<Fp32>>(ForwardSignature<Fp32>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2Kernel<Fp16>>(ForwardSignature<Fp16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2Kernel<Bf16>>(ForwardSignature<Bf16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradKernel<Fp32>>(BackwardSignature<Fp32>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradKernel<Fp16>>(BackwardSignature<Fp16>(kCpuProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradKernel<Bf16>>(BackwardSignature<Bf16>(kCpuProvider)); });

#ifdef ONNXMEMOPT_USE_CUDA
template <typename Elem>
class ReSilu2CudaKernel {
 public:
  ReSilu2CudaKernel(const OrtApi&, const OrtKernelInfo* info)
      : alpha_(PositiveAlpha(info)), thresholds_(SiluThresholds(info, alpha_)) {}
  void Compute(Ort::KernelContext& context) {
    RunCudaForward<Elem>(context, cuda::Activation::kSilu, alpha_, thresholds_);
  }

 private:
  double alpha_;
  FloatThresholds thresholds_;
};

template <typename Elem>
class ReSilu2GradCudaKernel {
 public:
  ReSilu2GradCudaKernel(const OrtApi&, const OrtKernelInfo* info) : levels_(SiluLevels(info)) {}
  void Compute(Ort::KernelContext& context) { RunCudaBackward<Elem>(context, levels_); }

 private:
  FloatLevels levels_;
};

ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2CudaKernel<Fp32>>(ForwardSignature<Fp32>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2CudaKernel<Fp16>>(ForwardSignature<Fp16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2CudaKernel<Bf16>>(ForwardSignature<Bf16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradCudaKernel<Fp32>>(BackwardSignature<Fp32>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradCudaKernel<Fp16>>(BackwardSignature<Fp16>(kCudaProvider)); });
ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return MakeOp<ReSilu2GradCudaKernel<Bf16>>(BackwardSignature<Bf16>(kCudaProvider)); });
#endif

}  // namespace
}  // namespace onnxmemopt::approx
