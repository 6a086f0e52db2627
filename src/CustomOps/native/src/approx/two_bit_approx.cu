// CUDA kernels of ReGelu2/ReSilu2 (forward: exact activation + 2-bit codes) and their gradients.
// Each thread owns whole 16-byte vectors of the data (4 floats or 8 16-bit values) and therefore
// whole code bytes: no atomics. The activations are evaluated in double (normcdf / exp), which
// on the GPU costs nothing next to the memory traffic and keeps float32 results within 1 ulp.
#include <cstdint>

#include "onnxmemopt/cuda_common.cuh"
#include "two_bit_approx_cuda.h"

namespace onnxmemopt::approx::cuda {
namespace {

using cuda_common::Element;
using cuda_common::kVectorElements;
using cuda_common::Vector;

struct GeluOp {
  __device__ __forceinline__ float operator()(float x) const {
    const double xd = x;
    // x * Phi(x) is -inf * 0 at -inf: return the limit, -0.
    return isinf(xd) && xd < 0.0 ? -0.0f : static_cast<float>(xd * normcdf(xd));
  }
};

struct SiluOp {
  double alpha;
  __device__ __forceinline__ float operator()(float x) const {
    const double xd = x;
    return isinf(xd) && xd < 0.0 ? -0.0f : static_cast<float>(xd / (1.0 + exp(-alpha * xd)));
  }
};

__device__ __forceinline__ uint32_t CodeOf(float x, const FloatThresholds& t) {
  return static_cast<uint32_t>(x > t.t[0]) + static_cast<uint32_t>(x > t.t[1]) + static_cast<uint32_t>(x > t.t[2]);
}

__device__ __forceinline__ float LevelOf(uint32_t code, const FloatLevels& levels) { return levels.l[code & 3u]; }

template <typename T, typename Op>
__global__ void ForwardKernel(const T* __restrict__ x, T* __restrict__ y, uint8_t* __restrict__ code, int64_t n,
                              Op op, FloatThresholds thresholds, bool aligned) {
  constexpr int kVec = kVectorElements<T>;
  const int64_t vectors = (n + kVec - 1) / kVec;
  const int64_t code_bytes = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < vectors; v += stride) {
    const int64_t base = v * kVec;
    const bool whole = aligned && base + kVec <= n;
    Vector<T> in;
    Vector<T> out;
    if (whole) {
      in.raw = reinterpret_cast<const uint4*>(x)[v];
    } else {
      for (int k = 0; k < kVec; ++k) in[k] = base + k < n ? x[base + k] : Element<T>::FromFloat(0.0f);
    }
    uint32_t packed = 0;  // kVec / 4 code bytes, least significant first
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float xf = Element<T>::ToFloat(in[k]);
      out[k] = Element<T>::FromFloat(op(xf));
      if (base + k < n) packed |= CodeOf(xf, thresholds) << (2 * k);
    }
    if (whole) {
      reinterpret_cast<uint4*>(y)[v] = out.raw;
    } else {
      for (int k = 0; k < kVec && base + k < n; ++k) y[base + k] = out[k];
    }
#pragma unroll
    for (int b = 0; b < kVec / 4; ++b) {
      const int64_t byte = base / 4 + b;
      if (byte < code_bytes) code[byte] = static_cast<uint8_t>(packed >> (8 * b));
    }
  }
}

template <typename T>
__global__ void BackwardKernel(const T* __restrict__ dy, const uint8_t* __restrict__ code, T* __restrict__ dx,
                               int64_t n, FloatLevels levels, bool aligned) {
  constexpr int kVec = kVectorElements<T>;
  const int64_t vectors = (n + kVec - 1) / kVec;
  const int64_t code_bytes = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < vectors; v += stride) {
    const int64_t base = v * kVec;
    const bool whole = aligned && base + kVec <= n;
    uint32_t packed = 0;
#pragma unroll
    for (int b = 0; b < kVec / 4; ++b) {
      const int64_t byte = base / 4 + b;
      if (byte < code_bytes) packed |= static_cast<uint32_t>(code[byte]) << (8 * b);
    }
    Vector<T> in;
    Vector<T> out;
    if (whole) {
      in.raw = reinterpret_cast<const uint4*>(dy)[v];
    } else {
      for (int k = 0; k < kVec; ++k) in[k] = base + k < n ? dy[base + k] : Element<T>::FromFloat(0.0f);
    }
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      out[k] = Element<T>::FromFloat(Element<T>::ToFloat(in[k]) * LevelOf(packed >> (2 * k), levels));
    }
    if (whole) {
      reinterpret_cast<uint4*>(dx)[v] = out.raw;
    } else {
      for (int k = 0; k < kVec && base + k < n; ++k) dx[base + k] = out[k];
    }
  }
}

constexpr int kThreads = 256;

template <typename T, typename Op>
const char* LaunchForwardTyped(cudaStream_t stream, Op op, const void* x, void* y, uint8_t* code, int64_t n,
                               FloatThresholds thresholds) {
  const int64_t vectors = (n + kVectorElements<T> - 1) / kVectorElements<T>;
  const bool aligned = cuda_common::IsAligned16(x) && cuda_common::IsAligned16(y);
  ForwardKernel<T, Op><<<cuda_common::GridFor(vectors, kThreads), kThreads, 0, stream>>>(
      static_cast<const T*>(x), static_cast<T*>(y), code, n, op, thresholds, aligned);
  return cuda_common::LastLaunchError();
}

template <typename Op>
const char* LaunchForwardOp(cudaStream_t stream, Op op, ElementKind type, const void* x, void* y, uint8_t* code,
                            int64_t n, FloatThresholds thresholds) {
  return cuda_common::WithElementType(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return LaunchForwardTyped<T>(stream, op, x, y, code, n, thresholds);
  });
}

template <typename T>
const char* LaunchBackwardTyped(cudaStream_t stream, const void* dy, const uint8_t* code, void* dx, int64_t n,
                                FloatLevels levels) {
  const int64_t vectors = (n + kVectorElements<T> - 1) / kVectorElements<T>;
  const bool aligned = cuda_common::IsAligned16(dy) && cuda_common::IsAligned16(dx);
  BackwardKernel<T><<<cuda_common::GridFor(vectors, kThreads), kThreads, 0, stream>>>(
      static_cast<const T*>(dy), code, static_cast<T*>(dx), n, levels, aligned);
  return cuda_common::LastLaunchError();
}

}  // namespace

const char* LaunchForward(void* stream, Activation activation, double alpha, ElementKind type, const void* x, void* y,
                          uint8_t* code, int64_t n, FloatThresholds thresholds) {
  if (n <= 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (activation == Activation::kGelu) return LaunchForwardOp(s, GeluOp{}, type, x, y, code, n, thresholds);
  return LaunchForwardOp(s, SiluOp{alpha}, type, x, y, code, n, thresholds);
}

const char* LaunchBackward(void* stream, ElementKind type, const void* dy, const uint8_t* code, void* dx, int64_t n,
                           FloatLevels levels) {
  if (n <= 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return cuda_common::WithElementType(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return LaunchBackwardTyped<T>(s, dy, code, dx, n, levels);
  });
}

}  // namespace onnxmemopt::approx::cuda
