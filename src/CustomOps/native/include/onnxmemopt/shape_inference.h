// Output type and shape inference for custom ops, through the raw OrtShapeInferContext (API 17):
// shared by the paper's ops (kernel_common.h) and the com.microsoft training ops
// (training_common.h). ONNX Runtime's allocation planner only reuses a dead buffer for a value, or
// lets an output take an input's buffer in place, when it knows both shapes before the first run,
// so an op without inference makes every value computed from it a buffer of its own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnxruntime_cxx_api.h"

namespace onnxmemopt {

// ---------------------------------------------------------------------------------------------
// Output shape inference through the raw OrtShapeInferContext (API 17). ONNX Runtime has already
// set every output's element type from the op's type constraints before calling it, and uses the
// first registered op of a name for all its element types, so these functions only set shapes.
// A dimension is a value or a symbol. ONNX Runtime presents an input of unknown shape as rank 0,
// like a scalar; in that case (and for outputs whose size cannot be written as a dimension, such
// as ceil(N/4) of symbolic N) no shape is set and the output's shape is left unknown.
// ---------------------------------------------------------------------------------------------
struct Dim {
  int64_t value = 0;
  std::string symbol;  // non-empty: a symbolic dimension
  bool Known() const { return symbol.empty() && value >= 0; }
  // Neither a number nor a name: ONNX Runtime reports such a dimension as -1 without a symbol.
  bool Anonymous() const { return symbol.empty() && value < 0; }
};

class ShapeInference {
 public:
  explicit ShapeInference(OrtShapeInferContext* context) : api_(Ort::GetApi()), context_(context) {}

  ONNXTensorElementDataType InputType(size_t index) const {
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    Ort::ThrowOnError(api_.GetTensorElementType(InputInfo(index), &type));
    return type;
  }

  std::vector<Dim> InputShape(size_t index) const {
    const OrtTensorTypeAndShapeInfo* info = InputInfo(index);
    size_t rank = 0;
    Ort::ThrowOnError(api_.GetDimensionsCount(info, &rank));
    std::vector<int64_t> values(rank);
    std::vector<const char*> symbols(rank, nullptr);
    if (rank > 0) {
      Ort::ThrowOnError(api_.GetDimensions(info, values.data(), rank));
      Ort::ThrowOnError(api_.GetSymbolicDimensions(info, symbols.data(), rank));
    }
    std::vector<Dim> dims(rank);
    for (size_t d = 0; d < rank; ++d) {
      dims[d].value = values[d];
      if (symbols[d] != nullptr && symbols[d][0] != '\0') dims[d].symbol = symbols[d];
    }
    return dims;
  }

  int64_t IntAttributeOr(const char* name, int64_t fallback) const {
    const OrtOpAttr* attribute = nullptr;
    if (OrtStatus* status = api_.ShapeInferContext_GetAttribute(context_, name, &attribute)) {
      api_.ReleaseStatus(status);
      return fallback;
    }
    if (attribute == nullptr) return fallback;
    int64_t value = fallback;
    size_t written = 0;
    if (OrtStatus* status = api_.ReadOpAttr(attribute, ORT_OP_ATTR_INT, &value, sizeof value, &written)) {
      api_.ReleaseStatus(status);
      return fallback;
    }
    return value;
  }

  // Runtimes differ on whether the length they report counts the terminating NUL, so the buffer
  // has room for one more and trailing NULs are dropped.
  std::string StringAttributeOr(const char* name, const std::string& fallback) const {
    const OrtOpAttr* attribute = nullptr;
    if (OrtStatus* status = api_.ShapeInferContext_GetAttribute(context_, name, &attribute)) {
      api_.ReleaseStatus(status);
      return fallback;
    }
    if (attribute == nullptr) return fallback;
    size_t size = 0;
    if (OrtStatus* status = api_.ReadOpAttr(attribute, ORT_OP_ATTR_STRING, nullptr, 0, &size)) {
      api_.ReleaseStatus(status);  // expected: the empty buffer is too small; `size` says how big
    }
    std::string value(size + 1, '\0');
    if (OrtStatus* status = api_.ReadOpAttr(attribute, ORT_OP_ATTR_STRING, value.data(), value.size(), &size)) {
      api_.ReleaseStatus(status);
      return fallback;
    }
    value.resize(std::min(size, value.size()));
    while (!value.empty() && value.back() == '\0') value.pop_back();
    return value;
  }

  // An output with an anonymous dimension is left unset. ONNX Runtime writes every dimension
  // without a symbol as a number, so the -1 it reports for "unknown" would come back as a real
  // size of -1 and make the next op's inference fail (MatMul: "Incompatible dimensions"); that
  // happens once its own optimizers have folded a graph with symbolic batch and sequence dims.
  void SetOutput(size_t index, ONNXTensorElementDataType type, const std::vector<Dim>& dims) const {
    if (std::any_of(dims.begin(), dims.end(), [](const Dim& d) { return d.Anonymous(); })) return;
    OrtTensorTypeAndShapeInfo* raw = nullptr;
    Ort::ThrowOnError(api_.CreateTensorTypeAndShapeInfo(&raw));
    std::unique_ptr<OrtTensorTypeAndShapeInfo, void (*)(OrtTensorTypeAndShapeInfo*)> info(
        raw, [](OrtTensorTypeAndShapeInfo* p) { Ort::GetApi().ReleaseTensorTypeAndShapeInfo(p); });
    std::vector<int64_t> values(dims.size());
    std::vector<const char*> symbols(dims.size());
    for (size_t d = 0; d < dims.size(); ++d) {
      values[d] = dims[d].value;
      symbols[d] = dims[d].symbol.c_str();
    }
    Ort::ThrowOnError(api_.SetTensorElementType(info.get(), type));
    Ort::ThrowOnError(api_.SetDimensions(info.get(), values.data(), values.size()));
    if (!dims.empty()) Ort::ThrowOnError(api_.SetSymbolicDimensions(info.get(), symbols.data(), symbols.size()));
    Ort::ThrowOnError(api_.ShapeInferContext_SetOutputTypeShape(context_, index, info.get()));
  }

  // Rank 0 stands for "unknown" as well as for a scalar: see above.
  bool InputShapeKnown(size_t input) const { return !InputShape(input).empty(); }

  // The common case: output `output` has input `input`'s element type and shape.
  void PropagateInput(size_t input, size_t output) const {
    if (InputShapeKnown(input)) SetOutput(output, InputType(input), InputShape(input));
  }

 private:
  const OrtTensorTypeAndShapeInfo* InputInfo(size_t index) const {
    OrtTensorTypeAndShapeInfo* info = nullptr;
    // The context owns the returned info; the caller must not release it.
    Ort::ThrowOnError(api_.ShapeInferContext_GetInputTypeShape(context_, index, &info));
    return info;
  }

  const OrtApi& api_;
  OrtShapeInferContext* context_;
};

using InferShapesFn = void (*)(const ShapeInference& inference);

}  // namespace onnxmemopt
