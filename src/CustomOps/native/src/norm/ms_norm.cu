// CUDA kernels of MS-LN / MS-RMSNorm and their gradients: one block per row (grid-stride over
// rows, 64-bit offsets), the block strides over the row's columns, so rows of any length (768,
// 4097, 11008, ...) are handled; statistics and gradients in float32 like the CPU kernels.
// Rows whose length is a multiple of the 16-byte vector and whose buffers are aligned use
// 16-byte loads and stores.
#include <cstdint>

#include "ms_norm_cuda.h"
#include "onnxmemopt/cuda_common.cuh"

namespace onnxmemopt::norm::cuda {
namespace {

using cuda_common::BlockSum;
using cuda_common::Element;
using cuda_common::kVectorElements;
using cuda_common::Vector;

// Calls f(column, value) for every element of a row, reading 16 bytes at a time when allowed.
template <typename T, bool kVectorised, typename F>
__device__ __forceinline__ void ForEachInRow(const T* row, int64_t cols, F&& f) {
  if (kVectorised) {
    constexpr int kVec = kVectorElements<T>;
    const int64_t vectors = cols / kVec;
    for (int64_t v = threadIdx.x; v < vectors; v += blockDim.x) {
      Vector<T> in;
      in.raw = reinterpret_cast<const uint4*>(row)[v];
#pragma unroll
      for (int k = 0; k < kVec; ++k) f(v * kVec + k, Element<T>::ToFloat(in[k]));
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) f(c, Element<T>::ToFloat(row[c]));
  }
}

template <typename T, bool kCentred, bool kVectorised>
__global__ void ForwardKernel(const T* __restrict__ x, T* __restrict__ z, float* __restrict__ inv_std_dev,
                              int64_t rows, int64_t cols, float epsilon) {
  __shared__ float scratch[32];
  const float count = static_cast<float>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * cols;
    T* out = z + r * cols;
    float mean = 0.0f;
    if (kCentred) {
      float sum = 0.0f;
      ForEachInRow<T, kVectorised>(in, cols, [&](int64_t, float v) { sum += v; });
      mean = cols > 0 ? BlockSum(sum, scratch) / count : 0.0f;
    }
    float squares = 0.0f;
    ForEachInRow<T, kVectorised>(in, cols, [&](int64_t, float v) {
      const float d = v - mean;
      squares += d * d;
    });
    const float variance = cols > 0 ? BlockSum(squares, scratch) / count : 0.0f;
    const float rstd = 1.0f / sqrtf(variance + epsilon);
    if (kVectorised) {
      constexpr int kVec = kVectorElements<T>;
      const int64_t vectors = cols / kVec;
      for (int64_t v = threadIdx.x; v < vectors; v += blockDim.x) {
        Vector<T> data;
        data.raw = reinterpret_cast<const uint4*>(in)[v];
#pragma unroll
        for (int k = 0; k < kVec; ++k) data[k] = Element<T>::FromFloat((Element<T>::ToFloat(data[k]) - mean) * rstd);
        reinterpret_cast<uint4*>(out)[v] = data.raw;
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        out[c] = Element<T>::FromFloat((Element<T>::ToFloat(in[c]) - mean) * rstd);
      }
    }
    if (threadIdx.x == 0) inv_std_dev[r] = rstd;
  }
}

template <typename T, bool kCentred, bool kVectorised>
__global__ void BackwardKernel(const T* __restrict__ dz, const T* __restrict__ z, const float* __restrict__ inv_std_dev,
                               T* __restrict__ dx, int64_t rows, int64_t cols) {
  __shared__ float scratch[32];
  constexpr int kVec = kVectorElements<T>;
  const float count = static_cast<float>(cols);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* g = dz + r * cols;
    const T* zr = z + r * cols;
    T* out = dx + r * cols;
    float sum_g = 0.0f;
    float sum_gz = 0.0f;
    if (kVectorised) {
      const int64_t vectors = cols / kVec;
      for (int64_t v = threadIdx.x; v < vectors; v += blockDim.x) {
        Vector<T> gv;
        Vector<T> zv;
        gv.raw = reinterpret_cast<const uint4*>(g)[v];
        zv.raw = reinterpret_cast<const uint4*>(zr)[v];
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
          const float gi = Element<T>::ToFloat(gv[k]);
          sum_g += gi;
          sum_gz += gi * Element<T>::ToFloat(zv[k]);
        }
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float gi = Element<T>::ToFloat(g[c]);
        sum_g += gi;
        sum_gz += gi * Element<T>::ToFloat(zr[c]);
      }
    }
    const float mean_g = kCentred ? BlockSum(sum_g, scratch) / count : 0.0f;
    const float mean_gz = BlockSum(sum_gz, scratch) / count;
    const float rstd = inv_std_dev[r];
    if (kVectorised) {
      const int64_t vectors = cols / kVec;
      for (int64_t v = threadIdx.x; v < vectors; v += blockDim.x) {
        Vector<T> gv;
        Vector<T> zv;
        gv.raw = reinterpret_cast<const uint4*>(g)[v];
        zv.raw = reinterpret_cast<const uint4*>(zr)[v];
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
          const float zi = Element<T>::ToFloat(zv[k]);
          gv[k] = Element<T>::FromFloat(rstd * ((Element<T>::ToFloat(gv[k]) - mean_g) - zi * mean_gz));
        }
        reinterpret_cast<uint4*>(out)[v] = gv.raw;
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float zi = Element<T>::ToFloat(zr[c]);
        out[c] = Element<T>::FromFloat(rstd * ((Element<T>::ToFloat(g[c]) - mean_g) - zi * mean_gz));
      }
    }
  }
}

// Threads per row: enough for one 16-byte vector each on short rows, 256 (8 warps) on long ones.
inline int ThreadsFor(int64_t cols, int vector_elements) {
  int threads = 32;
  while (threads < 256 && static_cast<int64_t>(threads) * vector_elements < cols) threads *= 2;
  return threads;
}

inline unsigned int RowGrid(int64_t rows) {
  const int64_t cap = int64_t{1} << 20;
  return static_cast<unsigned int>(rows > cap ? cap : rows);
}

template <typename T, bool kCentred>
const char* ForwardTyped(cudaStream_t stream, const void* x, void* z, float* inv_std_dev, int64_t rows, int64_t cols,
                         float epsilon) {
  constexpr int kVec = kVectorElements<T>;
  const bool vectorised = cols % kVec == 0 && cuda_common::IsAligned16(x) && cuda_common::IsAligned16(z);
  const int threads = ThreadsFor(cols, kVec);
  const T* in = static_cast<const T*>(x);
  T* out = static_cast<T*>(z);
  if (vectorised) {
    ForwardKernel<T, kCentred, true><<<RowGrid(rows), threads, 0, stream>>>(in, out, inv_std_dev, rows, cols, epsilon);
  } else {
    ForwardKernel<T, kCentred, false><<<RowGrid(rows), threads, 0, stream>>>(in, out, inv_std_dev, rows, cols, epsilon);
  }
  return cuda_common::LastLaunchError();
}

template <typename T, bool kCentred>
const char* BackwardTyped(cudaStream_t stream, const void* dz, const void* z, const float* inv_std_dev, void* dx,
                          int64_t rows, int64_t cols) {
  constexpr int kVec = kVectorElements<T>;
  const bool vectorised = cols % kVec == 0 && cuda_common::IsAligned16(dz) && cuda_common::IsAligned16(z) &&
                          cuda_common::IsAligned16(dx);
  const int threads = ThreadsFor(cols, kVec);
  const T* g = static_cast<const T*>(dz);
  const T* zr = static_cast<const T*>(z);
  T* out = static_cast<T*>(dx);
  if (vectorised) {
    BackwardKernel<T, kCentred, true><<<RowGrid(rows), threads, 0, stream>>>(g, zr, inv_std_dev, out, rows, cols);
  } else {
    BackwardKernel<T, kCentred, false><<<RowGrid(rows), threads, 0, stream>>>(g, zr, inv_std_dev, out, rows, cols);
  }
  return cuda_common::LastLaunchError();
}

template <bool kCentred>
const char* Forward(cudaStream_t stream, ElementKind type, const void* x, void* z, float* inv_std_dev, int64_t rows,
                    int64_t cols, float epsilon) {
  return cuda_common::WithElementType(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return ForwardTyped<T, kCentred>(stream, x, z, inv_std_dev, rows, cols, epsilon);
  });
}

template <bool kCentred>
const char* Backward(cudaStream_t stream, ElementKind type, const void* dz, const void* z, const float* inv_std_dev,
                     void* dx, int64_t rows, int64_t cols) {
  return cuda_common::WithElementType(type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return BackwardTyped<T, kCentred>(stream, dz, z, inv_std_dev, dx, rows, cols);
  });
}

}  // namespace

const char* LaunchNormForward(void* stream, bool centred, ElementKind type, const void* x, void* z,
                              float* inv_std_dev, int64_t rows, int64_t cols, float epsilon) {
  if (rows <= 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return centred ? Forward<true>(s, type, x, z, inv_std_dev, rows, cols, epsilon)
                 : Forward<false>(s, type, x, z, inv_std_dev, rows, cols, epsilon);
}

const char* LaunchNormBackward(void* stream, bool centred, ElementKind type, const void* dz, const void* z,
                               const float* inv_std_dev, void* dx, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  return centred ? Backward<true>(s, type, dz, z, inv_std_dev, dx, rows, cols)
                 : Backward<false>(s, type, dz, z, inv_std_dev, dx, rows, cols);
}

}  // namespace onnxmemopt::norm::cuda
