// GELU-family gradients of ONNX Runtime's training ops (com.microsoft, since 1):
//   GeluGrad(dY, X) -> dX                       exact GELU  y = x * Phi(x)
//   FastGeluGrad(dY, X) -> dX                   tanh form   y = 0.5 x (1 + tanh(a (x + g x^3)))
//   BiasGeluGrad_dX(dY, X, B) -> dX             GeluGrad at X + B (B along X's last dimension)
//   BiasFastGeluGrad_dX(dY, X, B) -> dX         FastGeluGrad at X + B
//   QuickGeluGrad(dY, X) -> dX, attr alpha      y = x * sigmoid(alpha x), alpha defaults to 1.702
// T is float16, float, double or bfloat16 for all five (training_op_defs.cc).
#include <cmath>

#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
struct GeluDerivative {
  template <typename C>
  C operator()(C dy, C x) const {
    const C kInvSqrt2 = C(0.70710678118654752440);
    const C kInvSqrt2Pi = C(0.39894228040143267794);
    const C cdf = C(0.5) * (C(1) + std::erf(x * kInvSqrt2));
    const C pdf = kInvSqrt2Pi * std::exp(C(-0.5) * x * x);
    return dy * (cdf + x * pdf);
  }
};

// With u = a (x + g x^3), t = tanh(u): dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) a (1 + 3 g x^2),
// a = sqrt(2/pi), g = 0.044715 (FastGelu's constants).
struct FastGeluDerivative {
  template <typename C>
  C operator()(C dy, C x) const {
    const C kAlpha = C(0.79788456080286535588);
    const C kGamma = C(0.044715);
    const C x2 = x * x;
    const C t = std::tanh(kAlpha * x * (C(1) + kGamma * x2));
    const C du = kAlpha * (C(1) + C(3) * kGamma * x2);
    return dy * (C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * du);
  }
};

// With s = sigmoid(alpha x): dy/dx = s + alpha x s (1 - s) = s (1 + alpha x (1 - s)).
struct QuickGeluDerivative {
  float alpha;
  template <typename C>
  C operator()(C dy, C x) const {
    const C z = C(alpha) * x;
    // Evaluate the sigmoid on the side where exp cannot overflow.
    const C s = z >= C(0) ? C(1) / (C(1) + std::exp(-z)) : std::exp(z) / (C(1) + std::exp(z));
    return dy * s * (C(1) + z * (C(1) - s));
  }
};

template <typename T>
std::unique_ptr<OrtCustomOp> MakeQuickGeluGradOp() {
  OpSpec spec{"QuickGeluGrad", {Req<T>(), Req<T>()}, {Req<T>()}};
  return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
    const QuickGeluDerivative fn{FloatAttr(info, "alpha", 1.702f)};
    return std::make_unique<PointwiseGradKernel<T, QuickGeluDerivative>>("QuickGeluGrad", fn, false);
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("GeluGrad", false, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("FastGeluGrad", false, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("BiasGeluGrad_dX", true, GeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakePointwiseGradOp<T>("BiasFastGeluGrad_dX", true, FastGeluDerivative{});
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeQuickGeluGradOp<T>();
    });

}  // namespace
}  // namespace onnxmemopt::training
