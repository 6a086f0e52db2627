// ConcatTraining(inputs...) -> concat_result, per_input_length? (com.microsoft, since 1)
// Concat along the required attribute `axis`, plus (optionally) the int64 length of each input
// along that axis, which ONNX Runtime's gradient builder feeds to the SplitTraining gradient.
// T: float, double, float16, bfloat16, int32, int64, int8, uint8, bool (data is only moved).
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

class ConcatTrainingKernel final : public TrainingKernel {
 public:
  ConcatTrainingKernel(const OrtKernelInfo* info, size_t element_size) : element_size_(element_size) {
    const std::optional<int64_t> axis = OptionalIntAttr(info, "axis");
    Require(axis.has_value(), "ConcatTraining: the attribute axis is required");
    axis_ = *axis;
  }

  void Compute(Ort::KernelContext& context) override {
    const size_t inputs = context.GetInputCount();
    Require(inputs >= 1, "ConcatTraining: needs at least one input");
    std::vector<Ort::ConstValue> values;
    std::vector<Shape> shapes;
    for (size_t i = 0; i < inputs; ++i) {
      values.push_back(context.GetInput(i));
      shapes.push_back(ShapeOf(values.back()));
    }
    const size_t rank = shapes[0].size();
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, static_cast<int64_t>(rank), "ConcatTraining"));
    Shape out_shape = shapes[0];
    out_shape[axis] = 0;
    for (const Shape& shape : shapes) {
      bool same = shape.size() == rank;
      for (size_t d = 0; same && d < rank; ++d) {
        same = d == axis || shape[d] == shapes[0][d];
      }
      Require(same, "ConcatTraining: input " + ShapeText(shape) + " does not match " + ShapeText(shapes[0]) +
                        " outside axis " + std::to_string(axis));
      out_shape[axis] += shape[axis];
    }
    auto out = context.GetOutput(0, out_shape);
    auto* dst = static_cast<uint8_t*>(out.GetTensorMutableRawData());
    const int64_t outer = ProductOf(out_shape, 0, axis);
    const int64_t inner_bytes = ProductOf(out_shape, axis + 1, rank) * static_cast<int64_t>(element_size_);
    const int64_t out_row = out_shape[axis] * inner_bytes;
    int64_t column = 0;
    for (size_t i = 0; i < inputs; ++i) {
      const int64_t chunk = shapes[i][axis] * inner_bytes;
      const auto* src = static_cast<const uint8_t*>(values[i].GetTensorRawData());
      for (int64_t o = 0; chunk > 0 && o < outer; ++o) {
        std::memcpy(dst + o * out_row + column, src + o * chunk, static_cast<size_t>(chunk));
      }
      column += chunk;
    }
    if (context.GetOutputCount() > 1) {
      auto lengths = context.GetOutput(1, Shape{static_cast<int64_t>(inputs)});
      if (lengths != nullptr) {
        int64_t* data = lengths.GetTensorMutableData<int64_t>();
        for (size_t i = 0; i < inputs; ++i) {
          data[i] = shapes[i][axis];
        }
      }
    }
  }

 private:
  int64_t axis_ = 0;
  size_t element_size_;
};

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES, int32_t, int64_t, int8_t, uint8_t, bool>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      OpSpec spec{"ConcatTraining", {Var<T>()}, {Req<T>(), Opt<int64_t>()}};
      return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
        return std::make_unique<ConcatTrainingKernel>(info, sizeof(T));
      });
    });

}  // namespace
}  // namespace onnxmemopt::training
