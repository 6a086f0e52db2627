// Host-side entry points of the CUDA kernels in ms_norm.cu (no CUDA or ONNX Runtime types: the
// stream is ONNX Runtime's cudaStream_t as void*; a launch returns nullptr or a CUDA error string).
#pragma once

#include <cstdint>

#include "onnxmemopt/element_kind.h"

namespace onnxmemopt::norm::cuda {

// centred: MS-LN (subtract the row mean) or MS-RMSNorm. x, z: [rows, cols] of `type`;
// inv_std_dev: rows floats.
const char* LaunchNormForward(void* stream, bool centred, ElementKind type, const void* x, void* z,
                              float* inv_std_dev, int64_t rows, int64_t cols, float epsilon);

const char* LaunchNormBackward(void* stream, bool centred, ElementKind type, const void* dz, const void* z,
                               const float* inv_std_dev, void* dx, int64_t rows, int64_t cols);

}  // namespace onnxmemopt::norm::cuda
