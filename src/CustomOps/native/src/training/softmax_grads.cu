// CUDA twins of softmax_grads.cc: SoftmaxGrad, SoftmaxGrad_13, LogSoftmaxGrad and
// LogSoftmaxGrad_13 on CUDAExecutionProvider (same semantics and types, see the .cc).
// Reductions over contiguous rows (the last axis, or the coerced-2-D form) use one block per row;
// a single non-last axis uses one thread per (outer, inner) lane walking the axis.
#include <type_traits>

#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax };

template <typename D>
using SumOf = std::conditional_t<std::is_same_v<D, double>, double, float>;

template <SoftmaxKind K, typename A>
__device__ A GradOf(A dy, A y, A sum) {
  if constexpr (K == SoftmaxKind::kSoftmax) {
    return y * (dy - sum);
  } else {
    return dy - Exp(y) * sum;
  }
}

template <SoftmaxKind K, typename D>
__global__ void SoftmaxGradRows(const D* dy, const D* y, int64_t rows, int64_t length, D* dx) {
  using A = SumOf<D>;
  __shared__ A shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * length;
    A sum = 0;
    for (int64_t a = threadIdx.x; a < length; a += blockDim.x) {
      const A d = static_cast<A>(Load(dy[base + a]));
      sum += K == SoftmaxKind::kSoftmax ? d * static_cast<A>(Load(y[base + a])) : d;
    }
    sum = BlockSum(sum, shared);
    for (int64_t a = threadIdx.x; a < length; a += blockDim.x) {
      const A value = GradOf<K>(static_cast<A>(Load(dy[base + a])), static_cast<A>(Load(y[base + a])), sum);
      dx[base + a] = Store<D>::From(static_cast<DeviceCompute<D>>(value));
    }
  }
}

template <SoftmaxKind K, typename D>
__global__ void SoftmaxGradLanes(const D* dy, const D* y, int64_t outer, int64_t length, int64_t inner, D* dx) {
  using A = SumOf<D>;
  const int64_t lanes = outer * inner;
  for (int64_t lane = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; lane < lanes;
       lane += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = (lane / inner) * length * inner + lane % inner;
    A sum = 0;
    for (int64_t a = 0; a < length; ++a) {
      const A d = static_cast<A>(Load(dy[base + a * inner]));
      sum += K == SoftmaxKind::kSoftmax ? d * static_cast<A>(Load(y[base + a * inner])) : d;
    }
    for (int64_t a = 0; a < length; ++a) {
      const int64_t at = base + a * inner;
      const A value = GradOf<K>(static_cast<A>(Load(dy[at])), static_cast<A>(Load(y[at])), sum);
      dx[at] = Store<D>::From(static_cast<DeviceCompute<D>>(value));
    }
  }
}

template <typename T, SoftmaxKind K, bool kSingleAxis>
class CudaSoftmaxGradKernel final : public TrainingKernel {
 public:
  CudaSoftmaxGradKernel(const char* op, int64_t axis) : op_(op), axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    using D = DeviceT<T>;
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue y = context.GetInput(1);
    const Shape shape = ShapeOf(y);
    Require(ShapeOf(dy) == shape, std::string(op_) + ": dY and Y must have the same shape");
    Require(!shape.empty(), std::string(op_) + ": scalar inputs are not supported on CUDA");
    D* dx = reinterpret_cast<D*>(context.GetOutput(0, shape).GetTensorMutableData<T>());
    if (ElementCount(shape) == 0) {
      return;
    }
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), op_));
    const int64_t outer = ProductOf(shape, 0, axis);
    const int64_t length = kSingleAxis ? shape[axis] : ProductOf(shape, axis, shape.size());
    const int64_t inner = kSingleAxis ? ProductOf(shape, axis + 1, shape.size()) : 1;
    const D* dy_data = reinterpret_cast<const D*>(dy.GetTensorData<T>());
    const D* y_data = reinterpret_cast<const D*>(y.GetTensorData<T>());
    cudaStream_t stream = StreamOf(context);
    if (inner == 1) {
      const unsigned int blocks = static_cast<unsigned int>(std::min<int64_t>(outer, 65535));
      SoftmaxGradRows<K, D><<<blocks, kThreads, 0, stream>>>(dy_data, y_data, outer, length, dx);
    } else {
      SoftmaxGradLanes<K, D><<<GridFor(outer * inner), kThreads, 0, stream>>>(dy_data, y_data, outer, length, inner, dx);
    }
    CheckLaunch(op_);
  }

 private:
  const char* op_;
  int64_t axis_;
};

template <typename T, SoftmaxKind K, bool kSingleAxis>
std::unique_ptr<OrtCustomOp> MakeCudaSoftmaxGradOp(const char* name) {
  OpSpec spec{name, {Req<T>(), Req<T>()}, {Req<T>()}};
  spec.provider = kCudaProvider;
  spec.same_shape = {{0, 1}};  // as the CPU overloads (softmax_grads.cc), without in-place
  return MakeOp(std::move(spec), [name](const OrtKernelInfo* info) {
    return std::make_unique<CudaSoftmaxGradKernel<T, K, kSingleAxis>>(name, IntAttr(info, "axis", kSingleAxis ? -1 : 1));
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaSoftmaxGradOp<T, SoftmaxKind::kSoftmax, false>("SoftmaxGrad");
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaSoftmaxGradOp<T, SoftmaxKind::kSoftmax, true>("SoftmaxGrad_13");
    }) &&
    RegisterForEach<float, double, Ort::Float16_t>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaSoftmaxGradOp<T, SoftmaxKind::kLogSoftmax, false>("LogSoftmaxGrad");
    }) &&
    RegisterForEach<float, double, Ort::Float16_t>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeCudaSoftmaxGradOp<T, SoftmaxKind::kLogSoftmax, true>("LogSoftmaxGrad_13");
    });

}  // namespace
}  // namespace onnxmemopt::training::cuda
