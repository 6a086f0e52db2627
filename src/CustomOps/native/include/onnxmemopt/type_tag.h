// A type carried as a value, so that generic lambdas can take a type argument:
// `[&](auto tag) { using T = typename decltype(tag)::type; ... }`. Plain C++ (no ONNX Runtime or
// CUDA header), shared by the CPU op registrations and the CUDA launchers.
#pragma once

namespace onnxmemopt {

template <typename T>
struct TypeTag {
  using type = T;
};

}  // namespace onnxmemopt
