// CUDA helpers for the training ops' *.cu twins (compiled only where CMake finds nvcc, with
// ONNXMEMOPT_USE_CUDA): device storage types matching the host ones bit for bit, the session's
// compute stream, launch-error checks, block reductions and the pointwise-gradient kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training::cuda {

inline constexpr const char* kCudaProvider = "CUDAExecutionProvider";
inline constexpr int kThreads = 256;

// Host storage type -> device storage type of the same bits.
template <typename T>
struct DeviceOf {
  using type = T;
};
template <>
struct DeviceOf<Ort::Float16_t> {
  using type = __half;
};
template <>
struct DeviceOf<Ort::BFloat16_t> {
  using type = __nv_bfloat16;
};
template <typename T>
using DeviceT = typename DeviceOf<T>::type;

// Loads to / stores from the compute type (float for the half types, as on the CPU).
__device__ inline float Load(float v) { return v; }
__device__ inline double Load(double v) { return v; }
__device__ inline float Load(__half v) { return __half2float(v); }
__device__ inline float Load(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename D>
struct Store;
template <>
struct Store<float> {
  __device__ static float From(float v) { return v; }
};
template <>
struct Store<double> {
  __device__ static double From(double v) { return v; }
};
template <>
struct Store<__half> {
  __device__ static __half From(float v) { return __float2half(v); }
};
template <>
struct Store<__nv_bfloat16> {
  __device__ static __nv_bfloat16 From(float v) { return __float2bfloat16(v); }
};

// The compute type of a device storage type, spelled out (not decltype(Load(...))) so that host
// code may name it without referring to a __device__ function.
template <typename D>
struct DeviceComputeOf {
  using type = float;
};
template <>
struct DeviceComputeOf<double> {
  using type = double;
};
template <typename D>
using DeviceCompute = typename DeviceComputeOf<D>::type;

inline cudaStream_t StreamOf(const Ort::KernelContext& context) {
  return static_cast<cudaStream_t>(context.GetGPUComputeStream());
}

inline void CheckLaunch(const char* op) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    Fail(std::string(op) + ": CUDA launch failed: " + cudaGetErrorString(error));
  }
}

inline void Check(cudaError_t error, const char* op, const char* what) {
  if (error != cudaSuccess) {
    Fail(std::string(op) + ": " + what + ": " + cudaGetErrorString(error));
  }
}

// Grid for a grid-stride loop over n items.
inline unsigned int GridFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, 65535LL * 8));
}

// Sum of `value` over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the total. `shared` holds 32 values.
template <typename A>
__device__ A BlockSum(A value, A* shared) {
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) {
    shared[warp] = value;
  }
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  A total = 0;
  for (int w = 0; w < warps; ++w) {
    total += shared[w];
  }
  return total;
}

// dx[i] = fn(dy[i], x[i] (+ bias[i % width])), grid-stride.
template <typename D, typename Fn>
__global__ void PointwiseGradDevice(const D* dy, const D* x, const D* bias, int64_t width, D* dx, int64_t n, Fn fn) {
  using C = DeviceCompute<D>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    C xv = Load(x[i]);
    if (bias != nullptr) {
      xv += Load(bias[i % width]);
    }
    dx[i] = Store<D>::From(fn(Load(dy[i]), xv));
  }
}

// CUDA twin of PointwiseGradKernel (same checks, same formula).
template <typename T, typename Fn>
class CudaPointwiseGradKernel final : public TrainingKernel {
 public:
  CudaPointwiseGradKernel(const char* op, Fn fn, bool has_bias) : op_(op), fn_(fn), has_bias_(has_bias) {}

  void Compute(Ort::KernelContext& context) override {
    using D = DeviceT<T>;
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue x = context.GetInput(1);
    const Shape shape = ShapeOf(x);
    Require(ShapeOf(dy) == shape, std::string(op_) + ": dY and X must have the same shape");
    const int64_t count = ElementCount(shape);
    auto dx = context.GetOutput(0, shape);
    const D* bias = nullptr;
    int64_t width = 1;
    if (has_bias_) {
      const Ort::ConstValue b = context.GetInput(2);
      const Shape b_shape = ShapeOf(b);
      width = ElementCount(b_shape);
      Require(width > 0 && b_shape.size() <= shape.size() &&
                  std::equal(b_shape.begin(), b_shape.end(), shape.end() - static_cast<std::ptrdiff_t>(b_shape.size())),
              std::string(op_) + ": bias must match the trailing dimensions of X");
      bias = reinterpret_cast<const D*>(b.GetTensorData<T>());
    }
    if (count == 0) {
      return;
    }
    PointwiseGradDevice<D, Fn><<<GridFor(count), kThreads, 0, StreamOf(context)>>>(
        reinterpret_cast<const D*>(dy.GetTensorData<T>()), reinterpret_cast<const D*>(x.GetTensorData<T>()), bias, width,
        reinterpret_cast<D*>(dx.GetTensorMutableData<T>()), count, fn_);
    CheckLaunch(op_);
  }

 private:
  const char* op_;
  Fn fn_;
  bool has_bias_;
};

template <typename T, typename Fn>
std::unique_ptr<OrtCustomOp> MakeCudaPointwiseGradOp(const char* name, bool has_bias, Fn fn) {
  OpSpec spec{name, {Req<T>(), Req<T>()}, {Req<T>()}};
  if (has_bias) {
    spec.inputs.push_back(Req<T>());
  }
  spec.provider = kCudaProvider;
  return MakeOp(std::move(spec), [name, has_bias, fn](const OrtKernelInfo*) {
    return std::make_unique<CudaPointwiseGradKernel<T, Fn>>(name, fn, has_bias);
  });
}

}  // namespace onnxmemopt::training::cuda
