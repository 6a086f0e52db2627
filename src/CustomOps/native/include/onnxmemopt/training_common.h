// Shared helpers for the ONNX Runtime training ops (domain com.microsoft) that the stock inference
// runtime lacks: the scalar derivative functors (shared with the CUDA twins), element-type traits,
// a data-driven OrtCustomOp whose signature (types, optional, variadic and host-memory inputs,
// execution provider, output shape inference, may-in-place outputs) mirrors training_op_defs.cc,
// attribute readers with schema defaults, shape helpers, a chunked ParallelFor over the session's
// intra-op thread pool and the pointwise gradient kernel.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "onnxmemopt/kernel_attributes.h"
#include "onnxmemopt/registry.h"
#include "onnxmemopt/shape_inference.h"
#include "onnxmemopt/type_tag.h"
#include "onnxruntime_cxx_api.h"

namespace onnxmemopt::training {

// ---------------------------------------------------------------------------------------------
// Scalar derivatives, shared by the CPU kernels and their CUDA twins (*.cu)
// ---------------------------------------------------------------------------------------------

#if defined(__CUDACC__)
#define ONNXMEMOPT_HOST_DEVICE __host__ __device__
#else
#define ONNXMEMOPT_HOST_DEVICE
#endif

// Overloads that pick the float or double C function on host and device alike.
ONNXMEMOPT_HOST_DEVICE inline float Exp(float v) { return expf(v); }
ONNXMEMOPT_HOST_DEVICE inline double Exp(double v) { return exp(v); }
ONNXMEMOPT_HOST_DEVICE inline float Erf(float v) { return erff(v); }
ONNXMEMOPT_HOST_DEVICE inline double Erf(double v) { return erf(v); }
ONNXMEMOPT_HOST_DEVICE inline float Tanh(float v) { return tanhf(v); }
ONNXMEMOPT_HOST_DEVICE inline double Tanh(double v) { return tanh(v); }

// Each functor maps (dy, x) in the compute type C to dx.

// GELU y = x Phi(x): d/dx = Phi(x) + x phi(x).
struct GeluDerivative {
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C x) const {
    const C cdf = C(0.5) * (C(1) + Erf(x * C(0.70710678118654752440)));
    const C pdf = C(0.39894228040143267794) * Exp(C(-0.5) * x * x);
    return dy * (cdf + x * pdf);
  }
};

// FastGelu y = 0.5 x (1 + tanh(u)), u = a (x + g x^3), a = sqrt(2/pi), g = 0.044715:
// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) a (1 + 3 g x^2), t = tanh(u).
struct FastGeluDerivative {
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C x) const {
    const C kAlpha = C(0.79788456080286535588);
    const C kGamma = C(0.044715);
    const C x2 = x * x;
    const C t = Tanh(kAlpha * x * (C(1) + kGamma * x2));
    const C du = kAlpha * (C(1) + C(3) * kGamma * x2);
    return dy * (C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * du);
  }
};

// QuickGelu y = x sigmoid(alpha x): d/dx = s (1 + alpha x (1 - s)), s = sigmoid(alpha x).
struct QuickGeluDerivative {
  float alpha;
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C x) const {
    const C z = C(alpha) * x;
    // The sigmoid evaluated on the side where exp cannot overflow.
    const C s = z >= C(0) ? C(1) / (C(1) + Exp(-z)) : Exp(z) / (C(1) + Exp(z));
    return dy * s * (C(1) + z * (C(1) - s));
  }
};

// ReluGrad: a select, not a multiply, so an infinite dY where X <= 0 gives 0, not NaN.
struct ReluDerivative {
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C x) const {
    return x > C(0) ? dy : C(0);
  }
};

// SigmoidGrad and TanhGrad take the forward OUTPUT y.
struct SigmoidDerivative {
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C y) const {
    return dy * y * (C(1) - y);
  }
};

struct TanhDerivative {
  template <typename C>
  ONNXMEMOPT_HOST_DEVICE C operator()(C dy, C y) const {
    return dy * (C(1) - y * y);
  }
};

// ---------------------------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------------------------

// Maps a C++ storage type to its ONNX element type and to the type its arithmetic runs in:
// half-precision types compute in float (as ONNX Runtime's CPU kernels do), double in double.
template <typename T>
struct Element;

// Types stored as they compute (float, double, bool) and integers that compute in int64.
template <typename T, ONNXTensorElementDataType K, typename C = T>
struct PlainElement {
  static constexpr ONNXTensorElementDataType kType = K;
  using Compute = C;
  static C Load(T v) { return static_cast<C>(v); }
  static T Store(C v) { return static_cast<T>(v); }
};

template <>
struct Element<float> : PlainElement<float, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT> {};
template <>
struct Element<double> : PlainElement<double, ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE> {};
template <>
struct Element<bool> : PlainElement<bool, ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL> {};
template <>
struct Element<int64_t> : PlainElement<int64_t, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64> {};
template <>
struct Element<int32_t> : PlainElement<int32_t, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, int64_t> {};
template <>
struct Element<int8_t> : PlainElement<int8_t, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, int64_t> {};
template <>
struct Element<uint32_t> : PlainElement<uint32_t, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32, int64_t> {};
template <>
struct Element<uint8_t> : PlainElement<uint8_t, ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, int64_t> {};
template <>
struct Element<Ort::Float16_t> {
  static constexpr ONNXTensorElementDataType kType = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  using Compute = float;
  static float Load(Ort::Float16_t v) { return v.ToFloat(); }
  static Ort::Float16_t Store(float v) { return Ort::Float16_t(v); }
};
template <>
struct Element<Ort::BFloat16_t> {
  static constexpr ONNXTensorElementDataType kType = ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
  using Compute = float;
  static float Load(Ort::BFloat16_t v) { return v.ToFloat(); }
  static Ort::BFloat16_t Store(float v) { return Ort::BFloat16_t(v); }
};

template <typename T>
using ComputeOf = typename Element<T>::Compute;

// Reductions (norm statistics, softmax sums, losses) accumulate in double whatever the storage
// type: rows are short enough that the cost is negligible and float32 results then round once.
using Accumulator = double;

// Floating storage types most training ops accept (tensor(float16|float|double|bfloat16)).
#define ONNXMEMOPT_FLOAT_TYPES float, double, Ort::Float16_t, Ort::BFloat16_t

// ---------------------------------------------------------------------------------------------
// Op signature and kernel plumbing
// ---------------------------------------------------------------------------------------------

enum class Arity { kRequired, kOptional, kVariadic };

struct IoSpec {
  ONNXTensorElementDataType type;
  Arity arity = Arity::kRequired;
  // A small input the kernel reads on the host (a flag, a ratio): ONNX Runtime then keeps it in
  // CPU memory even when the op runs on CUDA. Irrelevant for CPU ops.
  bool on_host = false;
};

template <typename T>
IoSpec Req() {
  return {Element<T>::kType, Arity::kRequired};
}
template <typename T>
IoSpec Opt() {
  return {Element<T>::kType, Arity::kOptional};
}
template <typename T>
IoSpec Var() {
  return {Element<T>::kType, Arity::kVariadic};
}
template <typename T>
IoSpec OptHost() {
  return {Element<T>::kType, Arity::kOptional, true};
}

// Output `output` has input `input`'s element type and shape (left unknown while that input's is).
struct SameShape {
  size_t output;
  size_t input;
};

// Output `output` may be written into input `input`'s buffer. ONNX Runtime's planner does so only
// when this node is the input's last reader and both have the same static shape, so the op must
// also infer the output's shape (SameShape). The kernel must then be correct with the two
// aliased: each output element written only after every input element it depends on was read.
struct InPlace {
  int input;
  int output;
  bool operator==(const InPlace& other) const { return input == other.input && output == other.output; }
};

// One overload of one op: ONNX Runtime builds a single schema per name from all overloads and
// picks the overload whose declared types match the node, so each (T, U, ...) combination the
// schema allows is registered as its own OpSpec. The schema's shape inference is the first
// registered overload's, so every overload of a name (CUDA twins included) declares the same.
struct OpSpec {
  std::string name;
  std::vector<IoSpec> inputs;
  std::vector<IoSpec> outputs;
  int variadic_min_arity = 1;
  const char* provider = nullptr;  // nullptr: CPUExecutionProvider; the *.cu twins set CUDA's
  std::vector<SameShape> same_shape = {};
  InferShapesFn infer_shapes = nullptr;   // outputs whose shape is not simply an input's; runs after same_shape
  std::vector<InPlace> may_inplace = {};  // CPU overloads only
};

// A kernel instance: created once per node; Compute runs on every Run.
class TrainingKernel {
 public:
  virtual ~TrainingKernel() = default;
  virtual void Compute(Ort::KernelContext& context) = 0;

  // Exceptions never cross the C boundary: they become an OrtStatus the session reports.
  OrtStatusPtr ComputeV2(OrtKernelContext* raw_context) noexcept {
    try {
      Ort::KernelContext context(raw_context);
      Compute(context);
      return nullptr;
    } catch (const Ort::Exception& e) {
      return Ort::GetApi().CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::exception& e) {
      return Ort::GetApi().CreateStatus(ORT_RUNTIME_EXCEPTION, e.what());
    }
  }
};

using KernelFactory = std::function<std::unique_ptr<TrainingKernel>(const OrtKernelInfo*)>;

// See kOrtApiVersion in registry.h: ops declare the API version the library asks for, except
// that ops declaring may-in-place outputs declare 18 (ONNX Runtime reads GetMayInplace from 18 on)
// where the runtime has it; older runtimes get the op without them.
inline constexpr uint32_t kTrainingOpApiVersion = kOrtApiVersion;
inline constexpr uint32_t kMayInplaceApiVersion = 18;

namespace detail {

// OrtCustomOp::GetMayInplace receives no op pointer, so each distinct list of pairs needs a
// function of its own: a fixed pool of functions, each serving one list, shared by every op that
// declares the same list. Filled while RegisterCustomOps holds its lock; read-only afterwards.
inline constexpr size_t kInPlaceListSlots = 8;

inline std::array<std::vector<InPlace>, kInPlaceListSlots>& InPlaceLists() {
  static std::array<std::vector<InPlace>, kInPlaceListSlots> lists;
  return lists;
}

// ONNX Runtime frees the arrays with ReleaseInPlaceList.
template <size_t kSlot>
size_t ORT_API_CALL GetInPlaceList(int** input_index, int** output_index) {
  const std::vector<InPlace>& pairs = InPlaceLists()[kSlot];
  *input_index = new int[pairs.size()];
  *output_index = new int[pairs.size()];
  for (size_t i = 0; i < pairs.size(); ++i) {
    (*input_index)[i] = pairs[i].input;
    (*output_index)[i] = pairs[i].output;
  }
  return pairs.size();
}

inline void ORT_API_CALL ReleaseInPlaceList(int* input_index, int* output_index) {
  delete[] input_index;
  delete[] output_index;
}

using InPlaceListFn = size_t(ORT_API_CALL*)(int**, int**);

template <size_t... kSlots>
constexpr std::array<InPlaceListFn, sizeof...(kSlots)> InPlaceListFns(std::index_sequence<kSlots...>) {
  return {&GetInPlaceList<kSlots>...};
}

inline InPlaceListFn InPlaceListFor(const std::vector<InPlace>& pairs) {
  static constexpr std::array<InPlaceListFn, kInPlaceListSlots> kFns =
      InPlaceListFns(std::make_index_sequence<kInPlaceListSlots>{});
  auto& lists = InPlaceLists();
  for (size_t slot = 0; slot < kInPlaceListSlots; ++slot) {
    if (lists[slot].empty()) lists[slot] = pairs;
    if (lists[slot] == pairs) return kFns[slot];
  }
  throw std::logic_error("more distinct may-in-place lists than detail::kInPlaceListSlots");
}

}  // namespace detail

class TrainingOp : public Ort::CustomOpBase<TrainingOp, TrainingKernel, /*WithStatus=*/true> {
 public:
  TrainingOp(OpSpec spec, KernelFactory factory) : spec_(std::move(spec)), factory_(std::move(factory)) {
    OrtCustomOp::version = kTrainingOpApiVersion;
    if (!spec_.same_shape.empty() || spec_.infer_shapes != nullptr) {
      OrtCustomOp::InferOutputShapeFn = [](const OrtCustomOp* op, OrtShapeInferContext* context) -> OrtStatusPtr {
        try {
          static_cast<const TrainingOp*>(op)->InferShapes(ShapeInference(context));
          return nullptr;
        } catch (const Ort::Exception& e) {
          return Ort::GetApi().CreateStatus(e.GetOrtErrorCode(), e.what());
        } catch (const std::exception& e) {
          return Ort::GetApi().CreateStatus(ORT_FAIL, e.what());
        }
      };
    }
    if (!spec_.may_inplace.empty()) {
      if (spec_.provider != nullptr) {
        throw std::logic_error(spec_.name + ": may-in-place outputs are declared for CPU overloads only");
      }
      if (RuntimeApiVersion() >= kMayInplaceApiVersion) {
        OrtCustomOp::version = kMayInplaceApiVersion;
        OrtCustomOp::GetMayInplace = detail::InPlaceListFor(spec_.may_inplace);
        OrtCustomOp::ReleaseMayInplace = &detail::ReleaseInPlaceList;
      }
    }
  }

  const char* GetName() const { return spec_.name.c_str(); }
  const char* GetExecutionProviderType() const { return spec_.provider; }
  size_t GetInputTypeCount() const { return spec_.inputs.size(); }
  size_t GetOutputTypeCount() const { return spec_.outputs.size(); }
  ONNXTensorElementDataType GetInputType(size_t index) const { return spec_.inputs.at(index).type; }
  ONNXTensorElementDataType GetOutputType(size_t index) const { return spec_.outputs.at(index).type; }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return Characteristic(spec_.inputs.at(index).arity);
  }
  OrtCustomOpInputOutputCharacteristic GetOutputCharacteristic(size_t index) const {
    return Characteristic(spec_.outputs.at(index).arity);
  }
  OrtMemType GetInputMemoryType(size_t index) const {
    return spec_.inputs.at(index).on_host ? OrtMemTypeCPUInput : OrtMemTypeDefault;
  }
  int GetVariadicInputMinArity() const { return spec_.variadic_min_arity; }
  bool GetVariadicInputHomogeneity() const { return true; }

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const noexcept {
    try {
      *kernel = factory_(info).release();
      return nullptr;
    } catch (const Ort::Exception& e) {
      return api.CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::exception& e) {
      return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
    }
  }

 private:
  void InferShapes(const ShapeInference& inference) const {
    for (const SameShape& same : spec_.same_shape) {
      inference.PropagateInput(same.input, same.output);
    }
    if (spec_.infer_shapes != nullptr) {
      spec_.infer_shapes(inference);
    }
  }

  static OrtCustomOpInputOutputCharacteristic Characteristic(Arity arity) {
    switch (arity) {
      case Arity::kOptional:
        return INPUT_OUTPUT_OPTIONAL;
      case Arity::kVariadic:
        return INPUT_OUTPUT_VARIADIC;
      case Arity::kRequired:
        break;
    }
    return INPUT_OUTPUT_REQUIRED;
  }

  OpSpec spec_;
  KernelFactory factory_;
};

inline std::unique_ptr<OrtCustomOp> MakeOp(OpSpec spec, KernelFactory factory) {
  return std::make_unique<TrainingOp>(std::move(spec), std::move(factory));
}

// Registers one overload per type in Ts: make(TypeTag<T>{}) returns that overload's OrtCustomOp.
// Used at namespace scope: `const bool kRegistered = RegisterForEach<float, double>(domain, make);`
template <typename... Ts, typename Make>
bool RegisterForEach(const char* domain, Make make) {
  (OpRegistrar(domain, [make] { return make(TypeTag<Ts>{}); }), ...);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Shapes and inputs
// ---------------------------------------------------------------------------------------------

using Shape = std::vector<int64_t>;

[[noreturn]] inline void Fail(const std::string& message) { throw std::invalid_argument(message); }

inline void Require(bool condition, const std::string& message) {
  if (!condition) {
    Fail(message);
  }
}

inline int64_t ElementCount(const Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    count *= dim;
  }
  return count;
}

inline int64_t ProductOf(const Shape& shape, size_t begin, size_t end) {
  int64_t count = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) {
    count *= shape[i];
  }
  return count;
}

// Maps an axis in [-rank, rank-1] to [0, rank-1]; anything else is an error, as in ONNX.
inline int64_t NormalizeAxis(int64_t axis, int64_t rank, const char* op) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    Fail(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return axis < 0 ? axis + rank : axis;
}

inline std::string ShapeText(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ",") + std::to_string(shape[i]);
  }
  return text + "]";
}

// A present input (optional inputs that the node leaves empty read as absent).
inline bool HasInput(const Ort::KernelContext& context, size_t index) {
  return index < context.GetInputCount() && context.GetInput(index) != nullptr;
}

inline Shape ShapeOf(const Ort::ConstValue& value) { return value.GetTensorTypeAndShapeInfo().GetShape(); }

// Reads a one-element tensor (scalar or [1]) of any numeric type as double.
inline double ScalarAsDouble(const Ort::ConstValue& value, const char* what) {
  auto info = value.GetTensorTypeAndShapeInfo();
  Require(info.GetElementCount() == 1, std::string(what) + " must hold exactly one value");
  switch (info.GetElementType()) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return *value.GetTensorData<float>();
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return *value.GetTensorData<double>();
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return value.GetTensorData<Ort::Float16_t>()->ToFloat();
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return value.GetTensorData<Ort::BFloat16_t>()->ToFloat();
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return static_cast<double>(*value.GetTensorData<int64_t>());
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return *value.GetTensorData<int32_t>();
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return *value.GetTensorData<bool>() ? 1.0 : 0.0;
    default:
      Fail(std::string(what) + " has an unsupported element type");
  }
}

// Reads an int32/int64 1-D tensor into int64 values.
inline std::vector<int64_t> ReadIndexVector(const Ort::ConstValue& value) {
  auto info = value.GetTensorTypeAndShapeInfo();
  const size_t count = info.GetElementCount();
  std::vector<int64_t> out(count);
  if (info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32) {
    const int32_t* data = value.GetTensorData<int32_t>();
    std::copy(data, data + count, out.begin());
  } else if (info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64) {
    const int64_t* data = value.GetTensorData<int64_t>();
    std::copy(data, data + count, out.begin());
  } else {
    Fail("index tensor must be int32 or int64");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parallel loops
// ---------------------------------------------------------------------------------------------

// Runs body(begin, end) over [0, total) in chunks on the session's intra-op pool. Work under
// `grain` items stays on the calling thread. The number of chunks depends only on `total` and
// `grain`, never on the thread count, so chunked reductions are deterministic.
inline int64_t ChunkCount(int64_t total, int64_t grain, int64_t max_chunks = 64) {
  if (total <= 0) {
    return 0;
  }
  grain = std::max<int64_t>(grain, 1);
  return std::clamp<int64_t>((total + grain - 1) / grain, 1, max_chunks);
}

template <typename Body>
void ParallelChunks(const Ort::KernelContext& context, int64_t total, int64_t chunks, Body&& body) {
  if (total <= 0 || chunks <= 0) {
    return;
  }
  auto run_chunk = [&](int64_t chunk) {
    const int64_t begin = total * chunk / chunks;
    const int64_t end = total * (chunk + 1) / chunks;
    if (begin < end) {
      body(chunk, begin, end);
    }
  };
  if (chunks == 1) {
    run_chunk(0);
    return;
  }
  using RunChunk = decltype(run_chunk);
  context.ParallelFor(
      [](void* data, size_t chunk) { (*static_cast<RunChunk*>(data))(static_cast<int64_t>(chunk)); },
      static_cast<size_t>(chunks), 0, &run_chunk);
}

// Elementwise convenience: body(begin, end) over [0, total), about `grain` items per chunk.
template <typename Body>
void ParallelRange(const Ort::KernelContext& context, int64_t total, int64_t grain, Body&& body) {
  ParallelChunks(context, total, ChunkCount(total, grain),
                 [&](int64_t, int64_t begin, int64_t end) { body(begin, end); });
}

// Items per chunk for cheap elementwise work (a few flops per element).
inline constexpr int64_t kElementwiseGrain = 32768;

// ---------------------------------------------------------------------------------------------
// Pointwise gradients: dX = Fn(dY, X [+ B])
// ---------------------------------------------------------------------------------------------

// Kernel for the elementwise gradient ops (GeluGrad, ReluGrad, SigmoidGrad, ...). Fn maps
// (dy, x) in the compute type to dx. With `has_bias`, input 2 is a bias that the forward op added
// to X along its trailing dimensions (BiasGelu: B has X's last dimension), so x + b is evaluated.
template <typename T, typename Fn>
class PointwiseGradKernel final : public TrainingKernel {
 public:
  PointwiseGradKernel(const char* op, Fn fn, bool has_bias) : op_(op), fn_(std::move(fn)), has_bias_(has_bias) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue x = context.GetInput(1);
    const Shape dy_shape = ShapeOf(dy);
    const Shape x_shape = ShapeOf(x);
    Require(dy_shape == x_shape, std::string(op_) + ": dY " + ShapeText(dy_shape) + " and X " + ShapeText(x_shape) +
                                     " must have the same shape");
    const int64_t count = ElementCount(x_shape);
    auto dx = context.GetOutput(0, x_shape);
    const T* dy_data = dy.GetTensorData<T>();
    const T* x_data = x.GetTensorData<T>();
    T* dx_data = dx.GetTensorMutableData<T>();
    if (count == 0) {
      return;
    }
    using C = ComputeOf<T>;
    if (!has_bias_) {
      ParallelRange(context, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          dx_data[i] = Element<T>::Store(fn_(Element<T>::Load(dy_data[i]), Element<T>::Load(x_data[i])));
        }
      });
      return;
    }
    const Ort::ConstValue b = context.GetInput(2);
    const Shape b_shape = ShapeOf(b);
    const int64_t width = ElementCount(b_shape);
    Require(width > 0 && b_shape.size() <= x_shape.size() &&
                std::equal(b_shape.begin(), b_shape.end(), x_shape.end() - static_cast<std::ptrdiff_t>(b_shape.size())),
            std::string(op_) + ": bias " + ShapeText(b_shape) + " must match the trailing dimensions of X " +
                ShapeText(x_shape));
    const T* b_data = b.GetTensorData<T>();
    std::vector<C> bias(static_cast<size_t>(width));
    for (int64_t j = 0; j < width; ++j) {
      bias[static_cast<size_t>(j)] = Element<T>::Load(b_data[j]);
    }
    const int64_t rows = count / width;
    const int64_t grain_rows = std::max<int64_t>(1, kElementwiseGrain / width);
    ParallelRange(context, rows, grain_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t offset = r * width;
        for (int64_t j = 0; j < width; ++j) {
          const C xv = Element<T>::Load(x_data[offset + j]) + bias[static_cast<size_t>(j)];
          dx_data[offset + j] = Element<T>::Store(fn_(Element<T>::Load(dy_data[offset + j]), xv));
        }
      }
    });
  }

 private:
  const char* op_;
  Fn fn_;
  bool has_bias_;
};

// Spec and op for a pointwise gradient of storage type T: (dY, X[, B]) -> dX, all of type T.
// No shape inference and no in-place dX over dY, though the kernel would be correct with them:
// a static dX lets ONNX Runtime's planner hand later gradients freed buffers, and without the
// memory pattern a reused buffer stays allocated through the gap before its reuse. On the MiniLM
// bench (BiasGeluGrad_dX) that raised the arena peak by 31 MB (3.5 %) and lowered no preset's peak.
template <typename T, typename Fn>
std::unique_ptr<OrtCustomOp> MakePointwiseGradOp(const char* name, bool has_bias, Fn fn) {
  OpSpec spec{name, {Req<T>(), Req<T>()}, {Req<T>()}};
  if (has_bias) {
    spec.inputs.push_back(Req<T>());
  }
  return MakeOp(std::move(spec), [name, has_bias, fn](const OrtKernelInfo*) {
    return std::make_unique<PointwiseGradKernel<T, Fn>>(name, fn, has_bias);
  });
}

}  // namespace onnxmemopt::training
