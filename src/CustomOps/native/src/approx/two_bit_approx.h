// CPU kernels shared by ReGelu2/ReSilu2 (forward: exact activation + 2-bit codes) and their
// gradients (dX = dY * level[code]). Each worker owns whole code bytes: parallel chunks and
// blocks start at multiples of 4 elements, so packing needs no atomics.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "activation_avx512.h"
#include "two_bit_tables.h"
#include "onnxmemopt/cpu_isa.h"
#include "onnxmemopt/kernel_common.h"
#ifdef ONNXMEMOPT_USE_CUDA
#include "two_bit_approx_cuda.h"
#endif

namespace onnxmemopt::approx {

// Elements per inner block: the forward pass writes Y, then re-reads this block of X from L1
// to pack its codes, which keeps both loops simple enough to vectorise.
inline constexpr int64_t kBlock = 1024;
static_assert(kStreamingGrain % kBlock == 0 && kBlock % kCodesPerByte == 0, "blocks must own whole code bytes");

ONNXMEMOPT_INLINE uint32_t CodeOf(float x, const FloatThresholds& t) {
  // NaN compares false everywhere: code 0.
  return static_cast<uint32_t>(x > t.t[0]) + static_cast<uint32_t>(x > t.t[1]) + static_cast<uint32_t>(x > t.t[2]);
}

ONNXMEMOPT_INLINE float LevelOf(uint32_t code, const FloatLevels& levels) {
  const float low = (code & 1u) ? levels.l[1] : levels.l[0];
  const float high = (code & 1u) ? levels.l[3] : levels.l[2];
  return (code & 2u) ? high : low;
}

// Codes of one block of X. `count` may end mid-byte only at the tensor end; unused slots of the
// last byte are 0.
template <typename Elem>
ONNXMEMOPT_INLINE void PackCodes(const typename Elem::Storage* x, uint8_t* codes, int64_t count,
                                 const FloatThresholds& t) {
  const int64_t whole = count / kCodesPerByte;
  for (int64_t b = 0; b < whole; ++b) {
    const typename Elem::Storage* q = x + kCodesPerByte * b;
    codes[b] = PackFourCodes(CodeOf(Elem::Load(q[0]), t), CodeOf(Elem::Load(q[1]), t), CodeOf(Elem::Load(q[2]), t),
                             CodeOf(Elem::Load(q[3]), t));
  }
  const int64_t rest = count - whole * kCodesPerByte;
  if (rest > 0) {
    uint32_t byte = 0;
    for (int64_t k = 0; k < rest; ++k) byte |= CodeOf(Elem::Load(x[whole * kCodesPerByte + k]), t) << (2 * k);
    codes[whole] = static_cast<uint8_t>(byte);
  }
}

// One block: Y = activation(X) and codes of X (portable code, one clone per x86-64 level).
template <typename Elem, typename Activation>
ONNXMEMOPT_HOT_LOOP void ForwardBlock(const typename Elem::Storage* x, typename Elem::Storage* y, uint8_t* codes,
                                      int64_t count, Activation activation, FloatThresholds t) {
  for (int64_t i = 0; i < count; ++i) y[i] = Elem::Store(activation(Elem::Load(x[i])));
  PackCodes<Elem>(x, codes, count, t);
}

#ifdef ONNXMEMOPT_HAVE_AVX512_KERNELS
// The same with the activation's AVX-512 twin (activation_avx512.h), codes packed in the same
// pass. 16-bit types go through a float buffer in L1, converted by the same Load/Store as the
// portable path.
template <typename Elem, typename Vector>
ONNXMEMOPT_AVX512 void ForwardBlockAvx512(const typename Elem::Storage* x, typename Elem::Storage* y, uint8_t* codes,
                                          int64_t count, Vector activation, FloatThresholds t) {
  if constexpr (std::is_same_v<Elem, Fp32>) {
    avx512::ForwardFloats(x, y, codes, count, activation, t);
  } else {
    float staged[kBlock];
    for (int64_t i = 0; i < count; ++i) staged[i] = Elem::Load(x[i]);
    avx512::ForwardFloats(staged, staged, codes, count, activation, t);
    for (int64_t i = 0; i < count; ++i) y[i] = Elem::Store(staged[i]);
  }
}
#endif

template <typename Elem>
ONNXMEMOPT_HOT_LOOP void BackwardBlock(const typename Elem::Storage* dy, const uint8_t* codes, typename Elem::Storage* dx,
                                       int64_t count, FloatLevels levels) {
  const int64_t whole = count / kCodesPerByte;
  for (int64_t b = 0; b < whole; ++b) {
    const uint32_t byte = codes[b];
    for (int64_t k = 0; k < kCodesPerByte; ++k) {
      const int64_t i = kCodesPerByte * b + k;
      dx[i] = Elem::Store(Elem::Load(dy[i]) * LevelOf((byte >> (2 * k)) & 3u, levels));
    }
  }
  for (int64_t i = whole * kCodesPerByte; i < count; ++i) {
    dx[i] = Elem::Store(Elem::Load(dy[i]) * LevelOf(UnpackCode(codes[whole], i - whole * kCodesPerByte), levels));
  }
}

// The forward's tensors, shared by the CPU and CUDA kernels: X, and Y (X's shape) and the packed
// code (ceil(N/4) bytes) allocated.
struct ForwardTensors {
  Ort::ConstValue input;
  Ort::UnownedValue output;
  Ort::UnownedValue code;
  int64_t n;
};

inline ForwardTensors PrepareForward(Ort::KernelContext& context) {
  Ort::ConstValue input = context.GetInput(0);
  const Ort::TensorTypeAndShapeInfo info = input.GetTensorTypeAndShapeInfo();
  const int64_t n = static_cast<int64_t>(info.GetElementCount());
  Ort::UnownedValue output = context.GetOutput(0, info.GetShape());
  Ort::UnownedValue code = context.GetOutput(1, std::vector<int64_t>{PackedCodeBytes(n)});
  return {input, output, code, n};
}

// The gradient's tensors: dY, the code (its byte count must fit dY, else a clear error) and dX
// (dY's shape) allocated.
struct BackwardTensors {
  Ort::ConstValue grad;
  Ort::ConstValue code;
  Ort::UnownedValue output;
  int64_t n;
};

inline BackwardTensors PrepareBackward(Ort::KernelContext& context) {
  Ort::ConstValue grad = context.GetInput(0);
  Ort::ConstValue code = context.GetInput(1);
  const Ort::TensorTypeAndShapeInfo info = grad.GetTensorTypeAndShapeInfo();
  const int64_t n = static_cast<int64_t>(info.GetElementCount());
  const int64_t code_bytes = static_cast<int64_t>(code.GetTensorTypeAndShapeInfo().GetElementCount());
  if (code_bytes != PackedCodeBytes(n)) {
    throw Ort::Exception("Code has " + std::to_string(code_bytes) + " bytes; dY with " + std::to_string(n) +
                             " elements needs " + std::to_string(PackedCodeBytes(n)),
                         ORT_INVALID_ARGUMENT);
  }
  Ort::UnownedValue output = context.GetOutput(0, info.GetShape());
  return {grad, code, output, n};
}

template <typename Elem, typename Activation>
void RunForward(Ort::KernelContext& context, const Activation& activation, const FloatThresholds& thresholds) {
  using Storage = typename Elem::Storage;
  auto [input, output, code, n] = PrepareForward(context);
  if (n == 0) return;
  const Storage* x = TensorData<Storage>(input);
  Storage* y = MutableTensorData<Storage>(output);
  uint8_t* codes = MutableTensorData<uint8_t>(code);
#ifdef ONNXMEMOPT_HAVE_AVX512_KERNELS
  if (UseAvx512Kernels()) {
    const auto vector = avx512::VectorTwin(activation);
    ParallelFor(context, n, kStreamingGrain, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; b += kBlock) {
        const int64_t e = b + kBlock < end ? b + kBlock : end;
        ForwardBlockAvx512<Elem>(x + b, y + b, codes + b / kCodesPerByte, e - b, vector, thresholds);
      }
    });
    return;
  }
#endif
  ParallelFor(context, n, kStreamingGrain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t e = b + kBlock < end ? b + kBlock : end;
      ForwardBlock<Elem>(x + b, y + b, codes + b / kCodesPerByte, e - b, activation, thresholds);
    }
  });
}

template <typename Elem>
void RunBackward(Ort::KernelContext& context, const FloatLevels& levels) {
  using Storage = typename Elem::Storage;
  auto [grad, code, output, n] = PrepareBackward(context);
  if (n == 0) return;
  const Storage* dy = TensorData<Storage>(grad);
  const uint8_t* codes = TensorData<uint8_t>(code);
  Storage* dx = MutableTensorData<Storage>(output);
  ParallelFor(context, n, kStreamingGrain, [&](int64_t begin, int64_t end) {
    BackwardBlock<Elem>(dy + begin, codes + begin / kCodesPerByte, dx + begin, end - begin, levels);
  });
}

#ifdef ONNXMEMOPT_USE_CUDA
// CUDA twins of RunForward/RunBackward: same checks and output shapes, the work is launched on
// ONNX Runtime's compute stream (two_bit_approx.cu).
inline void ThrowOnCudaError(const char* error, const char* what) {
  if (error != nullptr) throw Ort::Exception(std::string(what) + ": " + error, ORT_FAIL);
}

template <typename Elem>
void RunCudaForward(Ort::KernelContext& context, cuda::Activation activation, double alpha,
                    const FloatThresholds& thresholds) {
  auto [input, output, code, n] = PrepareForward(context);
  if (n == 0) return;
  ThrowOnCudaError(cuda::LaunchForward(context.GetGPUComputeStream(), activation, alpha, Elem::kKind,
                                       input.GetTensorRawData(), output.GetTensorMutableRawData(),
                                       MutableTensorData<uint8_t>(code), n, thresholds),
                   "two-bit forward kernel");
}

template <typename Elem>
void RunCudaBackward(Ort::KernelContext& context, const FloatLevels& levels) {
  auto [grad, code, output, n] = PrepareBackward(context);
  if (n == 0) return;
  ThrowOnCudaError(cuda::LaunchBackward(context.GetGPUComputeStream(), Elem::kKind, grad.GetTensorRawData(),
                                        TensorData<uint8_t>(code), output.GetTensorMutableRawData(), n, levels),
                   "two-bit backward kernel");
}
#endif

// Y: X's type and shape; Code: uint8 [ceil(N/4)] when every dimension of X is a number.
inline void InferForwardShapes(const ShapeInference& inference) {
  inference.PropagateInput(0, 0);
  const std::vector<Dim> dims = inference.InputShape(0);
  if (dims.empty()) return;
  int64_t n = 1;
  for (const Dim& dim : dims) {
    if (!dim.Known()) return;
    n *= dim.value;
  }
  inference.SetOutput(1, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, {Dim{PackedCodeBytes(n), {}}});
}

inline void InferBackwardShapes(const ShapeInference& inference) { inference.PropagateInput(0, 0); }

}  // namespace onnxmemopt::approx
