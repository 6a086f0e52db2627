// Element types as plain enum values, for code that must not include ONNX Runtime headers
// (CUDA translation units): host code maps its element tag to one of these when it launches.
#pragma once

namespace onnxmemopt {

enum class ElementKind : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

}  // namespace onnxmemopt
