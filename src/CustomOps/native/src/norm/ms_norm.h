// CPU kernels shared by MS-LN and MS-RMSNorm (Yang et al., ICML 2024, memory-sharing
// backpropagation): the forward pass saves only its output Z and one float32 rstd per row, and
// the backward pass needs nothing else:
//   MS-LN:      z = (x - mean) * rstd, rstd = 1/sqrt(var + eps);  dx = rstd (g - mean(g) - z mean(g z))
//   MS-RMSNorm: z = x * rstd,          rstd = 1/sqrt(mean(x^2) + eps);  dx = rstd (g - z mean(g z))
// Rows are ONNX LayerNormalization rows: axes axis..rank-1 normalised together. Statistics and
// gradients are computed in float32 for every element type. kCentred selects LN over RMSNorm.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "onnxmemopt/kernel_common.h"
#include "onnxmemopt/registry.h"
#include "onnxmemopt/type_tag.h"
#ifdef ONNXMEMOPT_USE_CUDA
#include "ms_norm_cuda.h"
#endif

namespace onnxmemopt::norm {

template <typename Elem, bool kCentred>
ONNXMEMOPT_HOT_LOOP void NormaliseRows(const typename Elem::Storage* x, typename Elem::Storage* z, float* inv_std_dev,
                                       int64_t rows, int64_t cols, float epsilon) {
  const float count = static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const typename Elem::Storage* in = x + r * cols;
    typename Elem::Storage* out = z + r * cols;
    float mean = 0.0f;
    if (kCentred && cols > 0) mean = LaneSum(cols, [&](int64_t i) { return Elem::Load(in[i]); }) / count;
    // Two passes (mean, then squared deviations): no cancellation for rows with a large mean.
    const float sum_squares = LaneSum(cols, [&](int64_t i) {
      const float d = Elem::Load(in[i]) - mean;
      return d * d;
    });
    const float variance = cols > 0 ? sum_squares / count : 0.0f;
    const float rstd = 1.0f / std::sqrt(variance + epsilon);
    for (int64_t i = 0; i < cols; ++i) out[i] = Elem::Store((Elem::Load(in[i]) - mean) * rstd);
    inv_std_dev[r] = rstd;
  }
}

template <typename Elem, bool kCentred>
ONNXMEMOPT_HOT_LOOP void NormaliseRowsBackward(const typename Elem::Storage* dz, const typename Elem::Storage* z,
                                               const float* inv_std_dev, typename Elem::Storage* dx, int64_t rows,
                                               int64_t cols) {
  const float count = static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const typename Elem::Storage* g = dz + r * cols;
    const typename Elem::Storage* zr = z + r * cols;
    typename Elem::Storage* out = dx + r * cols;
    float mean_g = 0.0f;
    float mean_gz = 0.0f;
    if (cols > 0) {
      if (kCentred) {
        const std::pair<float, float> sums = LaneSum2(cols, [&](int64_t i) {
          const float gi = Elem::Load(g[i]);
          return std::pair<float, float>(gi, gi * Elem::Load(zr[i]));
        });
        mean_g = sums.first / count;
        mean_gz = sums.second / count;
      } else {
        mean_gz = LaneSum(cols, [&](int64_t i) { return Elem::Load(g[i]) * Elem::Load(zr[i]); }) / count;
      }
    }
    const float rstd = inv_std_dev[r];
    for (int64_t i = 0; i < cols; ++i) {
      const float zi = Elem::Load(zr[i]);
      out[i] = Elem::Store(rstd * ((Elem::Load(g[i]) - mean_g) - zi * mean_gz));
    }
  }
}

template <typename Elem, bool kCentred>
class NormForwardKernel {
 public:
  NormForwardKernel(const OrtApi&, const OrtKernelInfo* info)
      : axis_(IntAttr(info, "axis", -1)), epsilon_(FloatAttr(info, "epsilon", 1e-5f)) {}

  void Compute(Ort::KernelContext& context) {
    using Storage = typename Elem::Storage;
    Ort::ConstValue input = context.GetInput(0);
    const std::vector<int64_t> shape = input.GetTensorTypeAndShapeInfo().GetShape();
    const RowLayout layout = SplitRows(shape, axis_);
    Ort::UnownedValue output = context.GetOutput(0, shape);
    Ort::UnownedValue inv_std = context.GetOutput(1, RowStatisticShape(shape, layout.axis));
    if (layout.rows == 0) return;
    const Storage* x = TensorData<Storage>(input);
    Storage* z = MutableTensorData<Storage>(output);
    float* rstd = MutableTensorData<float>(inv_std);
#ifdef ONNXMEMOPT_USE_CUDA
    if (on_cuda_) {
      const char* error = cuda::LaunchNormForward(context.GetGPUComputeStream(), kCentred, Elem::kKind, x, z, rstd,
                                                  layout.rows, layout.cols, epsilon_);
      if (error != nullptr) throw Ort::Exception(std::string("MS norm forward kernel: ") + error, ORT_FAIL);
      return;
    }
#endif
    const int64_t cols = layout.cols;
    ParallelFor(context, layout.rows, RowGrain(cols), [&](int64_t begin, int64_t end) {
      NormaliseRows<Elem, kCentred>(x + begin * cols, z + begin * cols, rstd + begin, end - begin, cols, epsilon_);
    });
  }

 protected:
  bool on_cuda_ = false;

 private:
  int64_t axis_;
  float epsilon_;
};

template <typename Elem, bool kCentred>
class NormBackwardKernel {
 public:
  NormBackwardKernel(const OrtApi&, const OrtKernelInfo* info) : axis_(IntAttr(info, "axis", -1)) {}

  void Compute(Ort::KernelContext& context) {
    using Storage = typename Elem::Storage;
    Ort::ConstValue grad = context.GetInput(0);
    Ort::ConstValue normalised = context.GetInput(1);
    Ort::ConstValue inv_std = context.GetInput(2);
    const std::vector<int64_t> shape = grad.GetTensorTypeAndShapeInfo().GetShape();
    if (normalised.GetTensorTypeAndShapeInfo().GetShape() != shape) {
      throw Ort::Exception("dZ and Z must have the same shape", ORT_INVALID_ARGUMENT);
    }
    const RowLayout layout = SplitRows(shape, axis_);
    const int64_t stats = static_cast<int64_t>(inv_std.GetTensorTypeAndShapeInfo().GetElementCount());
    if (stats != layout.rows) {
      throw Ort::Exception("InvStdDev has " + std::to_string(stats) + " values; " + std::to_string(layout.rows) +
                               " rows need one each",
                           ORT_INVALID_ARGUMENT);
    }
    Ort::UnownedValue output = context.GetOutput(0, shape);
    if (layout.rows == 0 || layout.cols == 0) return;
    const Storage* dz = TensorData<Storage>(grad);
    const Storage* z = TensorData<Storage>(normalised);
    const float* rstd = TensorData<float>(inv_std);
    Storage* dx = MutableTensorData<Storage>(output);
#ifdef ONNXMEMOPT_USE_CUDA
    if (on_cuda_) {
      const char* error = cuda::LaunchNormBackward(context.GetGPUComputeStream(), kCentred, Elem::kKind, dz, z, rstd, dx,
                                                   layout.rows, layout.cols);
      if (error != nullptr) throw Ort::Exception(std::string("MS norm backward kernel: ") + error, ORT_FAIL);
      return;
    }
#endif
    const int64_t cols = layout.cols;
    ParallelFor(context, layout.rows, RowGrain(cols), [&](int64_t begin, int64_t end) {
      NormaliseRowsBackward<Elem, kCentred>(dz + begin * cols, z + begin * cols, rstd + begin, dx + begin * cols,
                                            end - begin, cols);
    });
  }

 protected:
  bool on_cuda_ = false;

 private:
  int64_t axis_;
};

#ifdef ONNXMEMOPT_USE_CUDA
// The same kernels with the work launched on ONNX Runtime's CUDA stream.
template <typename Base>
struct OnCuda : Base {
  OnCuda(const OrtApi& api, const OrtKernelInfo* info) : Base(api, info) { this->on_cuda_ = true; }
};
#endif

// Z: X's type and shape; InvStdDev: float32, X's shape with the normalised axes set to 1.
inline void InferForwardShapes(const ShapeInference& inference) {
  inference.PropagateInput(0, 0);
  std::vector<Dim> dims = inference.InputShape(0);
  if (dims.empty()) return;
  const int64_t axis = NormaliseAxis(inference.IntAttributeOr("axis", -1), dims.size());
  for (size_t d = static_cast<size_t>(axis); d < dims.size(); ++d) dims[d] = Dim{1, {}};
  inference.SetOutput(1, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, dims);
}

inline void InferBackwardShapes(const ShapeInference& inference) { inference.PropagateInput(0, 0); }

template <typename Elem>
OpSignature ForwardSignature(const char* name, const char* provider) {
  return {name, provider, {Elem::kOnnxType}, {Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT}, &InferForwardShapes};
}

template <typename Elem>
OpSignature BackwardSignature(const char* name, const char* provider) {
  return {name,
          provider,
          {Elem::kOnnxType, Elem::kOnnxType, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT},
          {Elem::kOnnxType},
          &InferBackwardShapes};
}

// Registers one norm family (forward and gradient, float/float16/bfloat16, CPU and, where built,
// CUDA): MS-LN and MS-RMSNorm differ only in kCentred and their names. Call it from a namespace-
// scope initialiser in the family's .cc file, as ONNXMEMOPT_REGISTER_OP would.
template <bool kCentred>
bool RegisterNormFamily(const char* forward, const char* backward) {
  auto add = [](OpFactory factory) { RegisteredOps().push_back({kOnnxMemOptDomain, std::move(factory)}); };
  auto add_types = [&](auto provider_tag) {
    constexpr bool kCuda = decltype(provider_tag)::value;
    const char* provider = kCuda ? kCudaProvider : kCpuProvider;
    auto add_type = [&](auto elem_tag) {
      using Elem = typename decltype(elem_tag)::type;
      using Forward = NormForwardKernel<Elem, kCentred>;
      using Backward = NormBackwardKernel<Elem, kCentred>;
#ifdef ONNXMEMOPT_USE_CUDA
      using ForwardOn = std::conditional_t<kCuda, OnCuda<Forward>, Forward>;
      using BackwardOn = std::conditional_t<kCuda, OnCuda<Backward>, Backward>;
#else
      using ForwardOn = Forward;
      using BackwardOn = Backward;
#endif
      add([=] { return MakeOp<ForwardOn>(ForwardSignature<Elem>(forward, provider)); });
      add([=] { return MakeOp<BackwardOn>(BackwardSignature<Elem>(backward, provider)); });
    };
    add_type(TypeTag<Fp32>{});
    add_type(TypeTag<Fp16>{});
    add_type(TypeTag<Bf16>{});
  };
  add_types(std::false_type{});
#ifdef ONNXMEMOPT_USE_CUDA
  add_types(std::true_type{});
#endif
  return true;
}

}  // namespace onnxmemopt::norm
