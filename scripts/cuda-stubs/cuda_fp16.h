// Declaration-only stand-in for the CUDA toolkit's cuda_fp16.h (see cuda_runtime.h here).
#pragma once
#include "cuda_runtime.h"
struct __half { unsigned short bits; };
__host__ __device__ float __half2float(__half);
__host__ __device__ __half __float2half_rn(float);
__host__ __device__ __half __float2half(float);
