// CUDA twins of layer_norm_grads.cc: LayerNormalizationGrad, SimplifiedLayerNormalizationGrad and
// InvertibleLayerNormalizationGrad on CUDAExecutionProvider (same formulas, see the .cc).
// X_grad: one block per row reduces sum(g) and sum(g * x_hat), then writes the row.
// scale_grad / bias_grad: column sums over row chunks into a stream-ordered scratch buffer
// (cudaMallocAsync), then one pass adds the chunks in order, so results are deterministic.
// Types as on the CPU: T = V in {float16, float, double, bfloat16} with float statistics, and
// double with double statistics; sums run in float (double for double tensors).
#include <type_traits>

#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

enum class NormKind { kLayerNorm, kSimplified, kInvertible };

template <typename D>
using SumOf = std::conditional_t<std::is_same_v<D, double>, double, float>;

// x_hat of element (row, j): from X and the row statistics, or (Invertible) from Y, scale, bias.
template <NormKind K, typename D, typename U>
__device__ SumOf<D> NormalizedInput(const D* x_or_y, const D* scale, const D* bias, const U* mean, SumOf<D> inv,
                                    int64_t row, int64_t width, int64_t j) {
  using A = SumOf<D>;
  const A v = static_cast<A>(Load(x_or_y[row * width + j]));
  if constexpr (K == NormKind::kInvertible) {
    return (v - static_cast<A>(Load(bias[j]))) / static_cast<A>(Load(scale[j]));
  } else if constexpr (K == NormKind::kLayerNorm) {
    return (v - static_cast<A>(mean[row])) * inv;
  } else {
    return v * inv;
  }
}

template <NormKind K, typename D, typename U>
__global__ void NormGradRows(const D* dy, const D* x_or_y, const D* scale, const D* bias, const U* mean, const U* inv,
                             int64_t rows, int64_t width, D* dx) {
  using A = SumOf<D>;
  __shared__ A shared[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const A inv_r = static_cast<A>(inv[row]);
    A sum_g = 0;
    A sum_gx = 0;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      const A xh = NormalizedInput<K>(x_or_y, scale, bias, mean, inv_r, row, width, j);
      const A g = static_cast<A>(Load(dy[row * width + j])) * static_cast<A>(Load(scale[j]));
      sum_g += g;
      sum_gx += g * xh;
    }
    sum_g = BlockSum(sum_g, shared);
    sum_gx = BlockSum(sum_gx, shared);
    const A mean_g = K == NormKind::kSimplified ? A(0) : sum_g / static_cast<A>(width);
    const A mean_gx = sum_gx / static_cast<A>(width);
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      const A xh = NormalizedInput<K>(x_or_y, scale, bias, mean, inv_r, row, width, j);
      const A g = static_cast<A>(Load(dy[row * width + j])) * static_cast<A>(Load(scale[j]));
      dx[row * width + j] = Store<D>::From(static_cast<DeviceCompute<D>>(inv_r * (g - mean_g - xh * mean_gx)));
    }
  }
}

// Partial column sums of dy * x_hat (scale) and dy (bias) over the rows of chunk blockIdx.y.
template <NormKind K, typename D, typename U>
__global__ void NormGradColumnChunks(const D* dy, const D* x_or_y, const D* scale, const D* bias, const U* mean,
                                     const U* inv, int64_t rows, int64_t width, int64_t rows_per_chunk,
                                     SumOf<D>* partial_scale, SumOf<D>* partial_bias) {
  using A = SumOf<D>;
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j >= width) {
    return;
  }
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;
  A s = 0;
  A b = 0;
  for (int64_t row = begin; row < end; ++row) {
    const A xh = NormalizedInput<K>(x_or_y, scale, bias, mean, static_cast<A>(inv[row]), row, width, j);
    const A d = static_cast<A>(Load(dy[row * width + j]));
    s += d * xh;
    b += d;
  }
  partial_scale[chunk * width + j] = s;
  partial_bias[chunk * width + j] = b;
}

template <typename D>
__global__ void FinishColumns(const SumOf<D>* partial_scale, const SumOf<D>* partial_bias, int64_t chunks, int64_t width,
                              D* scale_grad, D* bias_grad) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (j >= width) {
    return;
  }
  SumOf<D> s = 0;
  SumOf<D> b = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    s += partial_scale[c * width + j];
    b += partial_bias[c * width + j];
  }
  scale_grad[j] = Store<D>::From(static_cast<DeviceCompute<D>>(s));
  if (bias_grad != nullptr) {
    bias_grad[j] = Store<D>::From(static_cast<DeviceCompute<D>>(b));
  }
}

template <typename T, typename U, NormKind K>
class CudaNormGradKernel final : public TrainingKernel {
 public:
  CudaNormGradKernel(const char* op, int64_t axis) : op_(op), axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    using D = DeviceT<T>;
    using A = SumOf<D>;
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue x_or_y = context.GetInput(1);
    const Ort::ConstValue scale = context.GetInput(2);
    const Shape shape = ShapeOf(x_or_y);
    const int64_t axis = NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), op_);
    const int64_t rows = ProductOf(shape, 0, static_cast<size_t>(axis));
    const int64_t width = ProductOf(shape, static_cast<size_t>(axis), shape.size());
    const Shape scale_shape = ShapeOf(scale);
    Require(ShapeOf(dy) == shape, std::string(op_) + ": Y_grad and X must have the same shape");
    Require(ElementCount(scale_shape) == width, std::string(op_) + ": scale must hold the normalized values");
    const Ort::ConstValue inv = context.GetInput(K == NormKind::kSimplified ? 3 : 4);
    Require(ElementCount(ShapeOf(inv)) == rows, std::string(op_) + ": inv_std must hold one value per row");
    const U* mean = nullptr;
    const D* bias = nullptr;
    if constexpr (K == NormKind::kLayerNorm) {
      Require(ElementCount(ShapeOf(context.GetInput(3))) == rows, std::string(op_) + ": mean must hold one value per row");
      mean = context.GetInput(3).GetTensorData<U>();
    }
    if constexpr (K == NormKind::kInvertible) {
      Require(ElementCount(ShapeOf(context.GetInput(3))) == width, std::string(op_) + ": bias must match scale");
      bias = reinterpret_cast<const D*>(context.GetInput(3).GetTensorData<T>());
    }
    D* dx = reinterpret_cast<D*>(context.GetOutput(0, shape).GetTensorMutableData<T>());
    D* scale_grad = reinterpret_cast<D*>(context.GetOutput(1, scale_shape).GetTensorMutableData<T>());
    D* bias_grad = K == NormKind::kSimplified
                       ? nullptr
                       : reinterpret_cast<D*>(context.GetOutput(2, scale_shape).GetTensorMutableData<T>());
    if (rows == 0 || width == 0) {
      return;
    }
    const D* dy_data = reinterpret_cast<const D*>(dy.GetTensorData<T>());
    const D* x_data = reinterpret_cast<const D*>(x_or_y.GetTensorData<T>());
    const D* scale_data = reinterpret_cast<const D*>(scale.GetTensorData<T>());
    const U* inv_data = inv.GetTensorData<U>();
    cudaStream_t stream = StreamOf(context);

    const unsigned int row_blocks = static_cast<unsigned int>(std::min<int64_t>(rows, 65535));
    NormGradRows<K, D, U><<<row_blocks, kThreads, 0, stream>>>(dy_data, x_data, scale_data, bias, mean, inv_data, rows, width, dx);
    CheckLaunch(op_);

    const int64_t chunks = std::min<int64_t>((rows + 63) / 64, 1024);
    const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
    void* scratch = nullptr;
    const size_t bytes = 2 * static_cast<size_t>(chunks * width) * sizeof(A);
    Check(cudaMallocAsync(&scratch, bytes, stream), op_, "scratch allocation");
    A* partial_scale = static_cast<A*>(scratch);
    A* partial_bias = partial_scale + chunks * width;
    const dim3 grid(static_cast<unsigned int>((width + kThreads - 1) / kThreads), static_cast<unsigned int>(chunks));
    NormGradColumnChunks<K, D, U><<<grid, kThreads, 0, stream>>>(dy_data, x_data, scale_data, bias, mean, inv_data, rows,
                                                                 width, rows_per_chunk, partial_scale, partial_bias);
    CheckLaunch(op_);
    FinishColumns<D><<<static_cast<unsigned int>((width + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
        partial_scale, partial_bias, chunks, width, scale_grad, bias_grad);
    CheckLaunch(op_);
    Check(cudaFreeAsync(scratch, stream), op_, "scratch release");
  }

 private:
  const char* op_;
  int64_t axis_;
};

template <NormKind K, typename T, typename U>
std::unique_ptr<OrtCustomOp> MakeCudaNormGradOp(const char* name) {
  OpSpec spec{name, {}, {}};
  switch (K) {
    case NormKind::kLayerNorm:
      spec.inputs = {Req<T>(), Req<T>(), Req<T>(), Req<U>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<T>(), Req<T>()};
      break;
    case NormKind::kSimplified:
      spec.inputs = {Req<T>(), Req<T>(), Req<T>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<T>()};
      break;
    case NormKind::kInvertible:
      spec.inputs = {Req<T>(), Req<T>(), Req<T>(), Req<T>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<T>(), Req<T>()};
      break;
  }
  spec.provider = kCudaProvider;
  return MakeOp(std::move(spec), [name](const OrtKernelInfo* info) {
    return std::make_unique<CudaNormGradKernel<T, U, K>>(name, IntAttr(info, "axis", -1));
  });
}

template <NormKind K>
bool RegisterCudaNormGrad(const char* name) {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [name](auto tag) {
           using T = typename decltype(tag)::type;
           return MakeCudaNormGradOp<K, T, float>(name);
         }) &&
         RegisterForEach<double>(kMicrosoftDomain, [name](auto) { return MakeCudaNormGradOp<K, double, double>(name); });
}

[[maybe_unused]] const bool kRegistered =
    RegisterCudaNormGrad<NormKind::kLayerNorm>("LayerNormalizationGrad") &&
    RegisterCudaNormGrad<NormKind::kSimplified>("SimplifiedLayerNormalizationGrad") &&
    RegisterCudaNormGrad<NormKind::kInvertible>("InvertibleLayerNormalizationGrad");

}  // namespace
}  // namespace onnxmemopt::training::cuda
