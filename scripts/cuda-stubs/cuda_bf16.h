// Declaration-only stand-in for the CUDA toolkit's cuda_bf16.h (see cuda_runtime.h here).
#pragma once
#include "cuda_runtime.h"
struct __nv_bfloat16 { unsigned short bits; };
__host__ __device__ float __bfloat162float(__nv_bfloat16);
__host__ __device__ __nv_bfloat16 __float2bfloat16_rn(float);
__host__ __device__ __nv_bfloat16 __float2bfloat16(float);
