// Shared device helpers for the library's CUDA kernels (compiled by nvcc only): element
// conversions, 16-byte vector access, block-wide sums, launch geometry with 64-bit indices.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "onnxmemopt/element_kind.h"
#include "onnxmemopt/type_tag.h"

namespace onnxmemopt::cuda_common {

template <typename T>
struct Element;

template <>
struct Element<float> {
  __device__ __forceinline__ static float ToFloat(float v) { return v; }
  __device__ __forceinline__ static float FromFloat(float v) { return v; }
};

template <>
struct Element<__half> {
  __device__ __forceinline__ static float ToFloat(__half v) { return __half2float(v); }
  __device__ __forceinline__ static __half FromFloat(float v) { return __float2half_rn(v); }
};

template <>
struct Element<__nv_bfloat16> {
  __device__ __forceinline__ static float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ __forceinline__ static __nv_bfloat16 FromFloat(float v) { return __float2bfloat16_rn(v); }
};

// Elements of T in one 16-byte vector: 4 floats or 8 16-bit values, always a multiple of 4, so a
// thread that owns whole vectors also owns whole 2-bit code bytes.
template <typename T>
constexpr int kVectorElements = 16 / static_cast<int>(sizeof(T));

// kVector elements of T held in registers, loaded and stored as one uint4 when aligned.
template <typename T>
struct Vector {
  uint4 raw;
  __device__ __forceinline__ T& operator[](int i) { return reinterpret_cast<T*>(&raw)[i]; }
};

inline bool IsAligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Grid for a grid-stride loop over `work` items with `threads` per block: enough blocks to fill
// the GPU many times over, capped so the count fits gridDim.x; the loops use 64-bit indices.
inline unsigned int GridFor(int64_t work, int threads) {
  const int64_t blocks = (work + threads - 1) / threads;
  const int64_t cap = int64_t{1} << 20;
  return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block, returned to every thread. `scratch` holds 32 floats in shared memory; the
// trailing __syncthreads lets the caller reuse it for the next sum.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  if (warp == 0) {
    total = lane < warps ? scratch[lane] : 0.0f;
    total = WarpSum(total);
    if (lane == 0) scratch[0] = total;
  }
  __syncthreads();
  total = scratch[0];
  __syncthreads();
  return total;
}

// The device element type for the runtime's element kind, as a template argument: launchers call
// `WithElementType(kind, [&](auto tag) { using T = typename decltype(tag)::type; ... })` once
// instead of repeating a switch over the three types.

template <typename Fn>
const char* WithElementType(ElementKind kind, Fn&& fn) {
  switch (kind) {
    case ElementKind::kFloat32:
      return fn(TypeTag<float>{});
    case ElementKind::kFloat16:
      return fn(TypeTag<__half>{});
    case ElementKind::kBFloat16:
      return fn(TypeTag<__nv_bfloat16>{});
  }
  return "unsupported element type";
}

inline const char* LastLaunchError() {
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace onnxmemopt::cuda_common
