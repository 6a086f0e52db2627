// Broadcast bookkeeping of ONNX Runtime's training ops (com.microsoft, since 1):
//   BroadcastGradientArgs(a_shape, b_shape) -> a_axes?, b_axes?     (int64)
//       The axes (of the broadcast result, listed last to first) along which the gradient of
//       `a op b` must be summed to get each input's gradient: dimensions where that input is 1
//       and the other is not, plus the leading dimensions the shorter input lacks. Incompatible
//       shapes are an error.
//   ReduceSumTraining(data, axes) -> reduced, attrs keepdims = 1, noop_with_empty_axes = 0
//       ReduceSum with the axes as an int64 input; empty axes reduce everything unless
//       noop_with_empty_axes, which then returns the input unchanged.
// ReduceSumTraining T: float, double, float16, bfloat16, int32, int64 (sums in double / int64).
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

class BroadcastGradientArgsKernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    const std::vector<int64_t> a = ReadIndexVector(context.GetInput(0));
    const std::vector<int64_t> b = ReadIndexVector(context.GetInput(1));
    const int64_t rank = static_cast<int64_t>(std::max(a.size(), b.size()));
    std::vector<int64_t> a_axes;
    std::vector<int64_t> b_axes;
    int64_t i = static_cast<int64_t>(a.size()) - 1;
    int64_t j = static_cast<int64_t>(b.size()) - 1;
    int64_t k = rank - 1;
    for (; i >= 0 && j >= 0; --i, --j, --k) {
      const int64_t da = a[static_cast<size_t>(i)];
      const int64_t db = b[static_cast<size_t>(j)];
      if (da == db) {
        continue;
      }
      if (da == 1) {
        a_axes.push_back(k);
      } else if (db == 1) {
        b_axes.push_back(k);
      } else {
        Fail("BroadcastGradientArgs: shapes " + ShapeText(a) + " and " + ShapeText(b) + " do not broadcast");
      }
    }
    // The leading dimensions only the longer shape has are broadcast for the shorter input.
    std::vector<int64_t>& shorter = i < 0 ? a_axes : b_axes;
    for (; k >= 0; --k) {
      shorter.push_back(k);
    }
    WriteAxes(context, 0, a_axes);
    WriteAxes(context, 1, b_axes);
  }

 private:
  static void WriteAxes(Ort::KernelContext& context, size_t index, const std::vector<int64_t>& axes) {
    if (index >= context.GetOutputCount()) {
      return;
    }
    auto out = context.GetOutput(index, Shape{static_cast<int64_t>(axes.size())});
    if (out != nullptr && !axes.empty()) {
      std::copy(axes.begin(), axes.end(), out.GetTensorMutableData<int64_t>());
    }
  }
};

template <typename T>
class ReduceSumTrainingKernel final : public TrainingKernel {
 public:
  ReduceSumTrainingKernel(bool keepdims, bool noop_with_empty_axes)
      : keepdims_(keepdims), noop_with_empty_axes_(noop_with_empty_axes) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue data = context.GetInput(0);
    const Shape shape = ShapeOf(data);
    const size_t rank = shape.size();
    const std::vector<int64_t> axes = ReadIndexVector(context.GetInput(1));
    const T* in = data.GetTensorData<T>();
    const int64_t count = ElementCount(shape);

    if (axes.empty() && noop_with_empty_axes_) {
      T* out = context.GetOutput(0, shape).GetTensorMutableData<T>();
      if (count > 0) {
        std::memcpy(out, in, static_cast<size_t>(count) * sizeof(T));
      }
      return;
    }
    std::vector<bool> reduced(rank, axes.empty());
    for (int64_t axis : axes) {
      reduced[static_cast<size_t>(NormalizeAxis(axis, static_cast<int64_t>(rank), "ReduceSumTraining"))] = true;
    }
    Shape out_shape;
    Shape kept_shape(rank);  // the output shape with reduced dimensions kept as 1
    for (size_t d = 0; d < rank; ++d) {
      kept_shape[d] = reduced[d] ? 1 : shape[d];
      if (!reduced[d] || keepdims_) {
        out_shape.push_back(kept_shape[d]);
      }
    }
    const int64_t out_count = ElementCount(kept_shape);
    using Sum = std::conditional_t<std::is_integral_v<T>, int64_t, Accumulator>;
    std::vector<Sum> sums(static_cast<size_t>(out_count), Sum(0));

    // Walk the input in order, carrying the output offset: reduced dimensions have stride 0.
    Shape out_stride(rank, 0);
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      out_stride[d] = reduced[d] ? 0 : stride;
      stride *= kept_shape[d];
    }
    std::vector<int64_t> index(rank, 0);
    int64_t offset = 0;
    for (int64_t n = 0; n < count; ++n) {
      sums[static_cast<size_t>(offset)] += static_cast<Sum>(Element<T>::Load(in[n]));
      for (size_t d = rank; d-- > 0;) {
        offset += out_stride[d];
        if (++index[d] < shape[d]) {
          break;
        }
        offset -= out_stride[d] * shape[d];
        index[d] = 0;
      }
    }
    T* out = context.GetOutput(0, out_shape).GetTensorMutableData<T>();
    for (int64_t n = 0; n < out_count; ++n) {
      out[n] = Element<T>::Store(static_cast<ComputeOf<T>>(sums[static_cast<size_t>(n)]));
    }
  }

 private:
  bool keepdims_;
  bool noop_with_empty_axes_;
};

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<int64_t>(kMicrosoftDomain,
                             [](auto) {
                               OpSpec spec{"BroadcastGradientArgs", {Req<int64_t>(), Req<int64_t>()},
                                           {Opt<int64_t>(), Opt<int64_t>()}};
                               return MakeOp(std::move(spec), [](const OrtKernelInfo*) {
                                 return std::make_unique<BroadcastGradientArgsKernel>();
                               });
                             }) &&
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES, int32_t, int64_t>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      OpSpec spec{"ReduceSumTraining", {Req<T>(), Req<int64_t>()}, {Req<T>()}};
      return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
        return std::make_unique<ReduceSumTrainingKernel<T>>(IntAttr(info, "keepdims", 1) != 0,
                                                            IntAttr(info, "noop_with_empty_axes", 0) != 0);
      });
    });

}  // namespace
}  // namespace onnxmemopt::training
