// Shared helpers for the library's CPU kernels: element types (float, float16, bfloat16 stored as
// raw bits) and their float conversions, 2-bit code packing, row layout of normalisation ops,
// vectorisable row reductions, the session thread pool, and the boilerplate that turns a kernel
// class into an OrtCustomOp with status-returning entry points and output shape inference.
//
// Generic on purpose: any op family (the paper's ops, the com.microsoft training ops) can include
// it. Everything here is header-only and uses only OrtApi functions of API version 17 or older.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "onnxmemopt/element_kind.h"
#include "onnxmemopt/kernel_attributes.h"
#include "onnxmemopt/registry.h"
#include "onnxmemopt/shape_inference.h"
#include "onnxruntime_cxx_api.h"

namespace onnxmemopt {

// ---------------------------------------------------------------------------------------------
// Hot loops: one clone per x86-64 feature level, chosen at load time (ifunc). The library is
// built for plain x86-64 so that it loads everywhere, yet the kernels are memory-bound loops
// that only reach copy bandwidth with 256-bit vectors. The library is built with
// -ffp-contract=off and without -ffast-math, so every clone performs the same IEEE operations in
// the same order and results do not depend on the clone that runs; a file that opts in to
// contraction (see CMakeLists.txt) gets fused multiply-adds in the clones whose CPUs have them.
// ---------------------------------------------------------------------------------------------
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#ifndef ONNXMEMOPT_HOT_LOOP
#define ONNXMEMOPT_HOT_LOOP __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#endif
#else
#define ONNXMEMOPT_HOT_LOOP
#endif

#define ONNXMEMOPT_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// Bit casts and 16-bit float conversions. Branch-free (selects only) so loops that call them
// vectorise; round to nearest even, NaN stays NaN, infinities and subnormals are exact.
// ---------------------------------------------------------------------------------------------
ONNXMEMOPT_INLINE uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

ONNXMEMOPT_INLINE float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

ONNXMEMOPT_INLINE uint64_t DoubleBits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

ONNXMEMOPT_INLINE double BitsToDouble(uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

ONNXMEMOPT_INLINE float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t magnitude = half & 0x7fffu;
  // Placing exponent and mantissa 13 bits up gives the value scaled by 2^-112, for normals and
  // subnormals alike; one exact multiplication rescales it. Inf and NaN keep an all-ones exponent.
  const float scaled = BitsToFloat(magnitude << 13) * 0x1p112f;
  const uint32_t finite = FloatBits(scaled);
  const uint32_t special = 0x7f800000u | ((magnitude & 0x3ffu) << 13);
  return BitsToFloat(sign | (magnitude >= 0x7c00u ? special : finite));
}

ONNXMEMOPT_INLINE uint16_t FloatToHalf(float value) {
  const uint32_t bits = FloatBits(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7fffffffu;
  // Normal range: rebias the exponent and round the 13 dropped mantissa bits to nearest even; a
  // carry out of the mantissa correctly bumps the exponent, up to infinity for values >= 65520.
  const uint32_t odd = (magnitude >> 13) & 1u;
  const uint32_t normal = (magnitude - ((127u - 15u) << 23) + 0xfffu + odd) >> 13;
  // Half subnormals (|x| < 2^-14): adding 0.5 leaves |x| rounded to a multiple of 2^-24 (the half
  // subnormal step) in the low mantissa bits of the sum.
  const uint32_t subnormal = FloatBits(BitsToFloat(magnitude) + 0.5f) - FloatBits(0.5f);
  const uint32_t overflow = magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u;
  uint32_t half = magnitude < 0x38800000u ? subnormal : normal;
  half = magnitude >= 0x47800000u ? overflow : half;
  return static_cast<uint16_t>(sign | half);
}

ONNXMEMOPT_INLINE float BFloat16ToFloat(uint16_t value) { return BitsToFloat(static_cast<uint32_t>(value) << 16); }

ONNXMEMOPT_INLINE uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = FloatBits(value);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (bits >> 16) | 0x40u;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

// ---------------------------------------------------------------------------------------------
// Element types. Kernels are templates over one of these tags; 16-bit types are handled as raw
// bits (uint16_t) so the arithmetic stays in plain integer/float operations the compiler
// vectorises, and all arithmetic happens in float.
// ---------------------------------------------------------------------------------------------
struct Fp32 {
  static constexpr ElementKind kKind = ElementKind::kFloat32;
  using Storage = float;
  static constexpr ONNXTensorElementDataType kOnnxType = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  static constexpr const char* kName = "float";
  static ONNXMEMOPT_INLINE float Load(Storage value) { return value; }
  static ONNXMEMOPT_INLINE Storage Store(float value) { return value; }
};

struct Fp16 {
  static constexpr ElementKind kKind = ElementKind::kFloat16;
  using Storage = uint16_t;
  static constexpr ONNXTensorElementDataType kOnnxType = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  static constexpr const char* kName = "float16";
  static ONNXMEMOPT_INLINE float Load(Storage value) { return HalfToFloat(value); }
  static ONNXMEMOPT_INLINE Storage Store(float value) { return FloatToHalf(value); }
};

struct Bf16 {
  static constexpr ElementKind kKind = ElementKind::kBFloat16;
  using Storage = uint16_t;
  static constexpr ONNXTensorElementDataType kOnnxType = ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
  static constexpr const char* kName = "bfloat16";
  static ONNXMEMOPT_INLINE float Load(Storage value) { return BFloat16ToFloat(value); }
  static ONNXMEMOPT_INLINE Storage Store(float value) { return FloatToBFloat16(value); }
};

// ---------------------------------------------------------------------------------------------
// 2-bit codes: element i lives in byte i >> 2 at bits 2*(i & 3) and 2*(i & 3) + 1, least
// significant first. A kernel that gives each worker whole bytes (element ranges starting at a
// multiple of 4) never needs atomics.
// ---------------------------------------------------------------------------------------------
inline constexpr int64_t kCodesPerByte = 4;

ONNXMEMOPT_INLINE constexpr int64_t PackedCodeBytes(int64_t elements) { return (elements + kCodesPerByte - 1) / kCodesPerByte; }

ONNXMEMOPT_INLINE uint8_t PackFourCodes(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) {
  return static_cast<uint8_t>(c0 | (c1 << 2) | (c2 << 4) | (c3 << 6));
}

ONNXMEMOPT_INLINE uint32_t UnpackCode(uint8_t byte, int64_t slot) { return (static_cast<uint32_t>(byte) >> (2 * slot)) & 3u; }

// ---------------------------------------------------------------------------------------------
// Normalisation layout: ONNX LayerNormalization semantics. Axes axis..rank-1 are normalised
// together, so the tensor is a [rows, cols] matrix with rows = prod(dims before axis).
// ---------------------------------------------------------------------------------------------
struct RowLayout {
  int64_t axis = 0;  // normalised to [0, rank)
  int64_t rows = 0;
  int64_t cols = 0;
};

inline int64_t NormaliseAxis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    throw Ort::Exception("axis " + std::to_string(axis) + " is out of range for a tensor of rank " + std::to_string(r),
                         ORT_INVALID_ARGUMENT);
  }
  return axis < 0 ? axis + r : axis;
}

inline RowLayout SplitRows(const std::vector<int64_t>& shape, int64_t axis) {
  RowLayout layout;
  layout.axis = NormaliseAxis(axis, shape.size());
  layout.rows = 1;
  layout.cols = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    (static_cast<int64_t>(d) < layout.axis ? layout.rows : layout.cols) *= shape[d];
  }
  return layout;
}

// Shape of a per-row statistic (InvStdDev): the input's shape with the normalised axes set to 1.
inline std::vector<int64_t> RowStatisticShape(std::vector<int64_t> shape, int64_t normalised_axis) {
  for (size_t d = static_cast<size_t>(normalised_axis); d < shape.size(); ++d) shape[d] = 1;
  return shape;
}

// ---------------------------------------------------------------------------------------------
// Row reductions. Without -ffast-math a compiler may not reorder a float sum, so a single
// accumulator stays scalar. kSumLanes independent partial sums (combined pairwise at the end)
// vectorise and are also more accurate than one running sum.
// ---------------------------------------------------------------------------------------------
inline constexpr int64_t kSumLanes = 16;

template <typename Term>
ONNXMEMOPT_INLINE float LaneSum(int64_t count, const Term& term) {
  float lanes[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= count; i += kSumLanes) {
    for (int64_t l = 0; l < kSumLanes; ++l) lanes[l] += term(i + l);
  }
  for (int64_t l = 0; i < count; ++i, ++l) lanes[l] += term(i);
  for (int64_t width = kSumLanes / 2; width > 0; width /= 2) {
    for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0];
}

// Two sums over the same elements in one pass (e.g. sum(g) and sum(g*z)).
template <typename Term>
ONNXMEMOPT_INLINE std::pair<float, float> LaneSum2(int64_t count, const Term& term) {
  float a[kSumLanes] = {};
  float b[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= count; i += kSumLanes) {
    for (int64_t l = 0; l < kSumLanes; ++l) {
      const std::pair<float, float> t = term(i + l);
      a[l] += t.first;
      b[l] += t.second;
    }
  }
  for (int64_t l = 0; i < count; ++i, ++l) {
    const std::pair<float, float> t = term(i);
    a[l] += t.first;
    b[l] += t.second;
  }
  for (int64_t width = kSumLanes / 2; width > 0; width /= 2) {
    for (int64_t l = 0; l < width; ++l) {
      a[l] += a[l + width];
      b[l] += b[l + width];
    }
  }
  return {a[0], b[0]};
}

// ---------------------------------------------------------------------------------------------
// Parallel loops on the session's intra-op thread pool. body(begin, end) runs on disjoint
// ranges of [0, count) of `grain` items each (the last may be shorter); with one chunk, or a
// session with one thread, it runs inline. Exceptions never cross ONNX Runtime's C boundary:
// the first is kept and rethrown here.
// ---------------------------------------------------------------------------------------------
template <typename Body>
void ParallelFor(const Ort::KernelContext& context, int64_t count, int64_t grain, const Body& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (count + grain - 1) / grain;
  if (chunks == 1) {
    body(int64_t{0}, count);
    return;
  }
  struct Job {
    const Body* body;
    int64_t count;
    int64_t grain;
    std::mutex mutex;
    std::exception_ptr error;
  } job{&body, count, grain, {}, nullptr};
  auto run_chunk = [](void* data, size_t index) {
    Job* j = static_cast<Job*>(data);
    try {
      const int64_t begin = static_cast<int64_t>(index) * j->grain;
      (*j->body)(begin, std::min(begin + j->grain, j->count));
    } catch (...) {
      std::lock_guard<std::mutex> lock(j->mutex);
      if (!j->error) j->error = std::current_exception();
    }
  };
  context.ParallelFor(run_chunk, static_cast<size_t>(chunks), 0, &job);
  if (job.error) std::rethrow_exception(job.error);
}

// Elements per parallel chunk for streaming kernels: large enough to amortise scheduling,
// small enough to balance across threads; a multiple of 4 so chunks own whole code bytes.
inline constexpr int64_t kStreamingGrain = 64 * 1024;

// Rows per chunk so that a chunk holds about kStreamingGrain elements.
inline int64_t RowGrain(int64_t cols) { return std::max<int64_t>(1, kStreamingGrain / std::max<int64_t>(cols, 1)); }

// ---------------------------------------------------------------------------------------------
// Tensors (attribute readers: kernel_attributes.h).
// ---------------------------------------------------------------------------------------------
template <typename Storage>
const Storage* TensorData(const Ort::ConstValue& value) {
  return static_cast<const Storage*>(value.GetTensorRawData());
}

template <typename Storage>
Storage* MutableTensorData(Ort::UnownedValue& value) {
  return static_cast<Storage*>(value.GetTensorMutableRawData());
}

// ---------------------------------------------------------------------------------------------
// Kernel class -> OrtCustomOp. A kernel provides
//   Kernel(const OrtApi& api, const OrtKernelInfo* info);   // reads attributes, may throw
//   void Compute(Ort::KernelContext& context);              // may throw
// and is registered with a signature. Errors come back to ONNX Runtime as OrtStatus, never as
// exceptions through its C interface.
// ---------------------------------------------------------------------------------------------

struct OpSignature {
  const char* name = nullptr;
  const char* execution_provider = nullptr;  // nullptr: CPUExecutionProvider
  std::vector<ONNXTensorElementDataType> inputs;
  std::vector<ONNXTensorElementDataType> outputs;
  InferShapesFn infer_shapes = nullptr;
};

inline OrtStatusPtr StatusFromCurrentException() {
  try {
    throw;
  } catch (const Ort::Exception& e) {
    return Ort::GetApi().CreateStatus(e.GetOrtErrorCode(), e.what());
  } catch (const std::exception& e) {
    return Ort::GetApi().CreateStatus(ORT_FAIL, e.what());
  } catch (...) {
    return Ort::GetApi().CreateStatus(ORT_FAIL, "unknown exception in an onnxmemopt kernel");
  }
}

template <typename Kernel>
struct StatusKernel : Kernel {
  using Kernel::Kernel;
  OrtStatusPtr ComputeV2(OrtKernelContext* raw_context) {
    try {
      Ort::KernelContext context(raw_context);
      this->Compute(context);
      return nullptr;
    } catch (...) {
      return StatusFromCurrentException();
    }
  }
};

template <typename Kernel>
class KernelOp : public Ort::CustomOpBase<KernelOp<Kernel>, StatusKernel<Kernel>, /*WithStatus=*/true> {
 public:
  explicit KernelOp(OpSignature signature) : signature_(std::move(signature)) {
    // See kOrtApiVersion in registry.h: loadable into runtimes back to API 17.
    this->version = kOrtApiVersion;
    if (signature_.infer_shapes != nullptr) {
      this->InferOutputShapeFn = [](const OrtCustomOp* op, OrtShapeInferContext* context) -> OrtStatusPtr {
        try {
          static_cast<const KernelOp*>(op)->signature_.infer_shapes(ShapeInference(context));
          return nullptr;
        } catch (...) {
          return StatusFromCurrentException();
        }
      };
    }
  }

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    try {
      *kernel = new StatusKernel<Kernel>(api, info);
      return nullptr;
    } catch (...) {
      return StatusFromCurrentException();
    }
  }

  const char* GetName() const { return signature_.name; }
  const char* GetExecutionProviderType() const { return signature_.execution_provider; }
  size_t GetInputTypeCount() const { return signature_.inputs.size(); }
  ONNXTensorElementDataType GetInputType(size_t index) const { return signature_.inputs.at(index); }
  size_t GetOutputTypeCount() const { return signature_.outputs.size(); }
  ONNXTensorElementDataType GetOutputType(size_t index) const { return signature_.outputs.at(index); }

 private:
  OpSignature signature_;
};

template <typename Kernel>
std::unique_ptr<OrtCustomOp> MakeOp(OpSignature signature) {
  return std::unique_ptr<OrtCustomOp>(new KernelOp<Kernel>(std::move(signature)));
}

inline constexpr const char* kCpuProvider = nullptr;
inline constexpr const char* kCudaProvider = "CUDAExecutionProvider";

}  // namespace onnxmemopt
