// Kernel attribute readers shared by every op family (the paper's ops and the com.microsoft training
// ops): an absent attribute gives the schema's default, never an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "onnxruntime_cxx_api.h"

namespace onnxmemopt {

inline std::optional<int64_t> OptionalIntAttr(const OrtKernelInfo* info, const char* name) {
  int64_t value = 0;
  OrtStatus* status = Ort::GetApi().KernelInfoGetAttribute_int64(info, name, &value);
  if (status != nullptr) {
    Ort::GetApi().ReleaseStatus(status);
    return std::nullopt;
  }
  return value;
}

inline int64_t IntAttr(const OrtKernelInfo* info, const char* name, int64_t fallback) {
  return OptionalIntAttr(info, name).value_or(fallback);
}

inline float FloatAttr(const OrtKernelInfo* info, const char* name, float fallback) {
  float value = 0.0f;
  OrtStatus* status = Ort::GetApi().KernelInfoGetAttribute_float(info, name, &value);
  if (status != nullptr) {
    Ort::GetApi().ReleaseStatus(status);
    return fallback;
  }
  return value;
}

inline std::string StringAttr(const OrtKernelInfo* info, const char* name, const std::string& fallback) {
  size_t size = 0;
  OrtStatus* status = Ort::GetApi().KernelInfoGetAttribute_string(info, name, nullptr, &size);
  if (status != nullptr) {
    Ort::GetApi().ReleaseStatus(status);
    return fallback;
  }
  std::string value(size, '\0');
  Ort::ThrowOnError(Ort::GetApi().KernelInfoGetAttribute_string(info, name, value.data(), &size));
  value.resize(size > 0 ? size - 1 : 0);  // size counts the terminating NUL
  return value;
}

// A float-list attribute (ONNX "floats"), or nullopt when the node does not carry it.
inline std::optional<std::vector<float>> OptionalFloatsAttr(const OrtKernelInfo* info, const char* name) {
  size_t size = 0;
  OrtStatus* status = Ort::GetApi().KernelInfoGetAttributeArray_float(info, name, nullptr, &size);
  if (status != nullptr) {
    Ort::GetApi().ReleaseStatus(status);
    return std::nullopt;
  }
  std::vector<float> values(size);
  if (size > 0) Ort::ThrowOnError(Ort::GetApi().KernelInfoGetAttributeArray_float(info, name, values.data(), &size));
  return values;
}

}  // namespace onnxmemopt
