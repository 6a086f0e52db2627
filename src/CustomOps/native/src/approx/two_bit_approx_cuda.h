// Host-side entry points of the CUDA kernels in two_bit_approx.cu. No CUDA or ONNX Runtime
// types cross this header: the stream is ONNX Runtime's compute stream (a cudaStream_t) as
// void*, and a launch returns nullptr or a static CUDA error string.
#pragma once

#include <cstdint>

#include "onnxmemopt/element_kind.h"
#include "two_bit_tables.h"

namespace onnxmemopt::approx::cuda {

enum class Activation : int { kGelu = 0, kSilu = 1 };

// Y = activation(X) (exact GELU, or x * sigmoid(alpha x)) and Code, ceil(n / 4) bytes.
const char* LaunchForward(void* stream, Activation activation, double alpha, ElementKind type, const void* x, void* y,
                          uint8_t* code, int64_t n, FloatThresholds thresholds);

// dX = dY * level[code].
const char* LaunchBackward(void* stream, ElementKind type, const void* dy, const uint8_t* code, void* dx, int64_t n,
                           FloatLevels levels);

}  // namespace onnxmemopt::approx::cuda
