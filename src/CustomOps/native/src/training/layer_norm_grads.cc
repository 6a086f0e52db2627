// Normalization gradients of ONNX Runtime's training ops (com.microsoft, since 1; attr axis = -1):
//   LayerNormalizationGrad(Y_grad, X, scale, mean, inv_std_dev) -> X_grad, scale_grad, bias_grad
//   SimplifiedLayerNormalizationGrad(Y_grad, X, scale, inv_std_var) -> X_grad, scale_grad
//   InvertibleLayerNormalizationGrad(Y_grad, Y, scale, bias, inv_std_var) -> X_grad, scale_grad, bias_grad
// Rows are the dimensions before `axis`, the normalized vector the dimensions from `axis` on (D
// values, scale has D elements), mean/inv_std one value per row. With x_hat the normalized input
// and g = Y_grad * scale:
//   LayerNorm:   X_grad = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)),  x_hat = (x - mean) inv_std
//   RMSNorm:     X_grad = inv_std * (g - x_hat * mean(g * x_hat)),            x_hat = x inv_std
//   Invertible:  as LayerNorm, with x_hat recovered from the output: (Y - bias) / scale
//   scale_grad = sum over rows of Y_grad * x_hat, bias_grad = sum over rows of Y_grad.
// Types: T (X, X_grad), V (Y_grad, scale, bias and their gradients), U (mean, inv_std); every
// accumulation runs in double.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

enum class NormKind { kLayerNorm, kSimplified, kInvertible };

template <typename T, typename V, typename U, NormKind kKind>
class NormGradKernel final : public TrainingKernel {
 public:
  NormGradKernel(const char* op, int64_t axis) : op_(op), axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    constexpr bool kHasMean = kKind == NormKind::kLayerNorm;
    constexpr bool kHasBiasGrad = kKind != NormKind::kSimplified;
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue x_or_y = context.GetInput(1);
    const Ort::ConstValue scale = context.GetInput(2);
    const Ort::ConstValue bias = kKind == NormKind::kInvertible ? context.GetInput(3) : Ort::ConstValue{nullptr};
    const Ort::ConstValue mean = kHasMean ? context.GetInput(3) : Ort::ConstValue{nullptr};
    const Ort::ConstValue inv_std = context.GetInput(kKind == NormKind::kSimplified ? 3 : 4);

    const Shape shape = ShapeOf(x_or_y);
    const int64_t rank = static_cast<int64_t>(shape.size());
    const int64_t axis = NormalizeAxis(axis_, rank, op_);
    const int64_t rows = ProductOf(shape, 0, static_cast<size_t>(axis));
    const int64_t width = ProductOf(shape, static_cast<size_t>(axis), shape.size());
    const Shape scale_shape = ShapeOf(scale);
    Require(ShapeOf(dy) == shape, std::string(op_) + ": Y_grad and X must have the same shape");
    Require(ElementCount(scale_shape) == width, std::string(op_) + ": scale " + ShapeText(scale_shape) +
                                                    " must hold the " + std::to_string(width) +
                                                    " normalized values of " + ShapeText(shape));
    Require(ElementCount(ShapeOf(inv_std)) == rows, std::string(op_) + ": inv_std must hold one value per row");
    if constexpr (kHasMean) {
      Require(ElementCount(ShapeOf(mean)) == rows, std::string(op_) + ": mean must hold one value per row");
    }
    if constexpr (kKind == NormKind::kInvertible) {
      Require(ElementCount(ShapeOf(bias)) == width, std::string(op_) + ": bias must match scale");
    }

    T* x_grad = context.GetOutput(0, shape).GetTensorMutableData<T>();
    V* scale_grad = context.GetOutput(1, scale_shape).GetTensorMutableData<V>();
    V* bias_grad = kHasBiasGrad ? context.GetOutput(2, scale_shape).GetTensorMutableData<V>() : nullptr;

    const V* dy_data = dy.GetTensorData<V>();
    const U* inv_data = inv_std.GetTensorData<U>();
    const U* mean_data = kHasMean ? mean.GetTensorData<U>() : nullptr;
    // Only one of the two is read: X (type T) for LayerNorm/RMSNorm, Y (type V) for Invertible.
    const T* x_data = kKind == NormKind::kInvertible ? nullptr : x_or_y.GetTensorData<T>();
    const V* y_data = kKind == NormKind::kInvertible ? x_or_y.GetTensorData<V>() : nullptr;
    const V* scale_data = scale.GetTensorData<V>();
    const V* bias_data = kKind == NormKind::kInvertible ? bias.GetTensorData<V>() : nullptr;
    std::vector<Accumulator> scale_values(static_cast<size_t>(width));
    std::vector<Accumulator> bias_values(kKind == NormKind::kInvertible ? static_cast<size_t>(width) : 0);
    for (int64_t j = 0; j < width; ++j) {
      scale_values[static_cast<size_t>(j)] = Element<V>::Load(scale_data[j]);
      if constexpr (kKind == NormKind::kInvertible) {
        bias_values[static_cast<size_t>(j)] = Element<V>::Load(bias_data[j]);
      }
    }

    // Rows split into chunks; each chunk sums its scale/bias gradient into its own slice and the
    // slices are added in chunk order, so the result does not depend on thread scheduling.
    const int64_t chunks = ChunkCount(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)));
    std::vector<Accumulator> partial_scale(static_cast<size_t>(chunks * width), 0.0);
    std::vector<Accumulator> partial_bias(kHasBiasGrad ? static_cast<size_t>(chunks * width) : 0, 0.0);

    ParallelChunks(context, rows, chunks, [&](int64_t chunk, int64_t begin, int64_t end) {
      std::vector<Accumulator> x_hat(static_cast<size_t>(width));
      std::vector<Accumulator> g(static_cast<size_t>(width));
      Accumulator* my_scale = partial_scale.data() + chunk * width;
      Accumulator* my_bias = kHasBiasGrad ? partial_bias.data() + chunk * width : nullptr;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t offset = r * width;
        const Accumulator inv = Element<U>::Load(inv_data[r]);
        const Accumulator mu = kHasMean ? Accumulator(Element<U>::Load(mean_data[r])) : 0.0;
        Accumulator sum_g = 0.0;
        Accumulator sum_gx = 0.0;
        for (int64_t j = 0; j < width; ++j) {
          const size_t k = static_cast<size_t>(j);
          const Accumulator d = Element<V>::Load(dy_data[offset + j]);
          Accumulator xh;
          if constexpr (kKind == NormKind::kInvertible) {
            xh = (Element<V>::Load(y_data[offset + j]) - bias_values[k]) / scale_values[k];
          } else {
            xh = (Element<T>::Load(x_data[offset + j]) - mu) * inv;
          }
          x_hat[k] = xh;
          g[k] = d * scale_values[k];
          sum_g += g[k];
          sum_gx += g[k] * xh;
          my_scale[j] += d * xh;
          if constexpr (kHasBiasGrad) {
            my_bias[j] += d;
          }
        }
        const Accumulator mean_g = kKind == NormKind::kSimplified ? 0.0 : sum_g / static_cast<Accumulator>(width);
        const Accumulator mean_gx = sum_gx / static_cast<Accumulator>(width);
        for (int64_t j = 0; j < width; ++j) {
          const size_t k = static_cast<size_t>(j);
          x_grad[offset + j] = Element<T>::Store(static_cast<ComputeOf<T>>(inv * (g[k] - mean_g - x_hat[k] * mean_gx)));
        }
      }
    });

    for (int64_t j = 0; j < width; ++j) {
      Accumulator s = 0.0;
      Accumulator b = 0.0;
      for (int64_t c = 0; c < chunks; ++c) {
        s += partial_scale[static_cast<size_t>(c * width + j)];
        if constexpr (kHasBiasGrad) {
          b += partial_bias[static_cast<size_t>(c * width + j)];
        }
      }
      scale_grad[j] = Element<V>::Store(static_cast<ComputeOf<V>>(s));
      if constexpr (kHasBiasGrad) {
        bias_grad[j] = Element<V>::Store(static_cast<ComputeOf<V>>(b));
      }
    }
  }

 private:
  const char* op_;
  int64_t axis_;
};

template <NormKind kKind, typename T, typename U>
std::unique_ptr<OrtCustomOp> MakeNormGradOp(const char* name) {
  using V = T;
  OpSpec spec{name, {}, {}};
  switch (kKind) {
    case NormKind::kLayerNorm:
      spec.inputs = {Req<V>(), Req<T>(), Req<V>(), Req<U>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<V>(), Req<V>()};
      break;
    case NormKind::kSimplified:
      spec.inputs = {Req<V>(), Req<T>(), Req<V>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<V>()};
      break;
    case NormKind::kInvertible:
      spec.inputs = {Req<V>(), Req<V>(), Req<V>(), Req<V>(), Req<U>()};
      spec.outputs = {Req<T>(), Req<V>(), Req<V>()};
      break;
  }
  return MakeOp(std::move(spec), [name](const OrtKernelInfo* info) {
    return std::make_unique<NormGradKernel<T, V, U, kKind>>(name, IntAttr(info, "axis", -1));
  });
}

// Statistics (U) are float for every X type, as ONNX Runtime's LayerNormalization emits them;
// double inputs may also carry double statistics.
template <NormKind kKind>
bool RegisterNormGrad(const char* name) {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [name](auto tag) {
           using T = typename decltype(tag)::type;
           return MakeNormGradOp<kKind, T, float>(name);
         }) &&
         RegisterForEach<double>(kMicrosoftDomain, [name](auto) { return MakeNormGradOp<kKind, double, double>(name); });
}

[[maybe_unused]] const bool kRegistered = RegisterNormGrad<NormKind::kLayerNorm>("LayerNormalizationGrad") &&
                                          RegisterNormGrad<NormKind::kSimplified>("SimplifiedLayerNormalizationGrad") &&
                                          RegisterNormGrad<NormKind::kInvertible>("InvertibleLayerNormalizationGrad");

}  // namespace
}  // namespace onnxmemopt::training
