// Declaration-only stand-in for the CUDA toolkit's cuda_runtime.h, used by
// scripts/cuda-syntax-check.sh so that clang can parse, type-check and compile to PTX the
// library's .cu files on machines without the toolkit. Only what the library calls is declared;
// nothing here is linked or run. The real toolkit header replaces it wherever nvcc exists.
#pragma once
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <cstddef>
#include <cstdint>
#include <cstdlib>
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  __host__ __device__ constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  __host__ __device__ constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
typedef struct CUstream_st* cudaStream_t;
enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
typedef enum cudaError cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4 };
extern "C" {
cudaError_t cudaGetLastError(void);
typedef struct CUevent_st* cudaEvent_t;
struct cudaDeviceProp { char name[256]; size_t totalGlobalMem; int major; int minor; int multiProcessorCount; };
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMalloc(void** ptr, size_t size);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* ptr, int value, size_t count);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream);
cudaError_t cudaConfigureCall(dim3 grid, dim3 block, size_t shared = 0, cudaStream_t stream = 0);
unsigned __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shared = 0, void* stream = 0);
cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t shared, cudaStream_t stream);
}
#include "__clang_cuda_builtin_vars.h"
__device__ float __shfl_down_sync(unsigned int mask, float v, unsigned int delta);
__device__ double __shfl_down_sync(unsigned int mask, double v, unsigned int delta);
__device__ float __shfl_xor_sync(unsigned int mask, float v, int lane_mask);
__device__ float __expf(float);
__device__ float __frcp_rn(float);
__device__ float rsqrtf(float);
__device__ float erff(float);
__device__ float erfcf(float);
__device__ float expf(float);
__device__ double exp(double);
__device__ double erfc(double);
__device__ float fmaf(float, float, float);
__device__ double fma(double, double, double);
__device__ float sqrtf(float);
__device__ float tanhf(float);
__device__ float fabsf(float);
__device__ float fmaxf(float, float);
__device__ float fminf(float, float);
__device__ int isnan(float);
__device__ int isinf(float);
__device__ int isinf(double);
__device__ float normcdff(float);
__device__ double normcdf(double);
__device__ float log1pf(float);
__device__ float logf(float);
__device__ float powf(float, float);
__device__ double erf(double);
__device__ float erf(float);
__device__ double tanh(double);
__device__ float tanh(float);
__device__ float exp(float);
__device__ double log(double);
__device__ float log(float);
__device__ double sqrt(double);
__device__ float sqrt(float);
