// Softmax gradients of ONNX Runtime's training ops (com.microsoft, since 1). Input 1 is the
// forward op's OUTPUT (ONNX Runtime's gradient builder wires Softmax/LogSoftmax's Y there):
//   SoftmaxGrad(dY, Y) -> dX, attr axis = 1        opset < 13 semantics: the input is coerced to
//   LogSoftmaxGrad(dY, Y) -> dX, attr axis = 1     2-D [prod(dims[:axis]), prod(dims[axis:])] and
//                                                  the reduction runs over the flattened second part
//   SoftmaxGrad_13(dY, Y) -> dX, attr axis = -1    opset 13 semantics: the reduction runs over the
//   LogSoftmaxGrad_13(dY, Y) -> dX, attr axis = -1 single dimension `axis`
// Softmax:    dX = Y * (dY - sum(dY * Y))
// LogSoftmax: dX = dY - exp(Y) * sum(dY)
// Types: T in float16, float, double, bfloat16 (the LogSoftmax grads: float16, float, double).
#include <cmath>

#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax };

template <typename T, SoftmaxKind kKind, bool kSingleAxis>
class SoftmaxGradKernel final : public TrainingKernel {
 public:
  SoftmaxGradKernel(const char* op, int64_t axis) : op_(op), axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue y = context.GetInput(1);
    const Shape shape = ShapeOf(y);
    Require(ShapeOf(dy) == shape, std::string(op_) + ": dY " + ShapeText(ShapeOf(dy)) + " and Y " + ShapeText(shape) +
                                      " must have the same shape");
    T* dx = context.GetOutput(0, shape).GetTensorMutableData<T>();
    const int64_t rank = static_cast<int64_t>(shape.size());
    if (rank == 0 || ElementCount(shape) == 0) {
      if (rank == 0) {
        dx[0] = Element<T>::Store(0);  // a softmax over one element is constant
      }
      return;
    }
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, rank, op_));
    const int64_t outer = ProductOf(shape, 0, axis);
    const int64_t length = kSingleAxis ? shape[axis] : ProductOf(shape, axis, shape.size());
    const int64_t inner = kSingleAxis ? ProductOf(shape, axis + 1, shape.size()) : 1;
    const T* dy_data = dy.GetTensorData<T>();
    const T* y_data = y.GetTensorData<T>();
    const int64_t block = length * inner;

    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(block, 1));
    if (inner == 1) {
      // Contiguous rows (last axis, or the coerced 2-D form): a plain dot product per row.
      ParallelRange(context, outer, grain, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          const T* dy_row = dy_data + o * length;
          const T* y_row = y_data + o * length;
          T* dx_row = dx + o * length;
          Accumulator sum = 0.0;
          for (int64_t a = 0; a < length; ++a) {
            const Accumulator d = Element<T>::Load(dy_row[a]);
            sum += kKind == SoftmaxKind::kSoftmax ? d * Accumulator(Element<T>::Load(y_row[a])) : d;
          }
          for (int64_t a = 0; a < length; ++a) {
            dx_row[a] = Element<T>::Store(static_cast<ComputeOf<T>>(
                Gradient(Element<T>::Load(dy_row[a]), Element<T>::Load(y_row[a]), sum)));
          }
        }
      });
      return;
    }
    ParallelRange(context, outer, grain, [&](int64_t begin, int64_t end) {
      // sums[i]: the reduction over the softmax axis for inner position i.
      std::vector<Accumulator> sums(static_cast<size_t>(inner));
      for (int64_t o = begin; o < end; ++o) {
        const int64_t base = o * block;
        std::fill(sums.begin(), sums.end(), 0.0);
        for (int64_t a = 0; a < length; ++a) {
          const int64_t row = base + a * inner;
          for (int64_t i = 0; i < inner; ++i) {
            const Accumulator d = Element<T>::Load(dy_data[row + i]);
            if constexpr (kKind == SoftmaxKind::kSoftmax) {
              sums[static_cast<size_t>(i)] += d * Element<T>::Load(y_data[row + i]);
            } else {
              sums[static_cast<size_t>(i)] += d;
            }
          }
        }
        for (int64_t a = 0; a < length; ++a) {
          const int64_t row = base + a * inner;
          for (int64_t i = 0; i < inner; ++i) {
            dx[row + i] = Element<T>::Store(static_cast<ComputeOf<T>>(
                Gradient(Element<T>::Load(dy_data[row + i]), Element<T>::Load(y_data[row + i]), sums[static_cast<size_t>(i)])));
          }
        }
      }
    });
  }

 private:
  // dX from dY, the forward output and the row's reduction (sum(dY * Y), or sum(dY) for log).
  static Accumulator Gradient(Accumulator dy, Accumulator out, Accumulator sum) {
    if constexpr (kKind == SoftmaxKind::kSoftmax) {
      return out * (dy - sum);
    } else {
      return dy - std::exp(out) * sum;
    }
  }

  const char* op_;
  int64_t axis_;
};

template <typename T, SoftmaxKind kKind, bool kSingleAxis>
std::unique_ptr<OrtCustomOp> MakeSoftmaxGradOp(const char* name) {
  OpSpec spec{name, {Req<T>(), Req<T>()}, {Req<T>()}};
  // dX has Y's shape and may take dY's buffer: each row's sums are complete before the row of dX
  // is written, and dX[i] reads only dY[i] and Y[i].
  spec.same_shape = {{0, 1}};
  spec.may_inplace = {{0, 0}};
  return MakeOp(std::move(spec), [name](const OrtKernelInfo* info) {
    const int64_t default_axis = kSingleAxis ? -1 : 1;
    return std::make_unique<SoftmaxGradKernel<T, kKind, kSingleAxis>>(name, IntAttr(info, "axis", default_axis));
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeSoftmaxGradOp<T, SoftmaxKind::kSoftmax, false>("SoftmaxGrad");
    }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeSoftmaxGradOp<T, SoftmaxKind::kSoftmax, true>("SoftmaxGrad_13");
    }) &&
    RegisterForEach<float, double, Ort::Float16_t>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeSoftmaxGradOp<T, SoftmaxKind::kLogSoftmax, false>("LogSoftmaxGrad");
    }) &&
    RegisterForEach<float, double, Ort::Float16_t>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      return MakeSoftmaxGradOp<T, SoftmaxKind::kLogSoftmax, true>("LogSoftmaxGrad_13");
    });

}  // namespace
}  // namespace onnxmemopt::training
