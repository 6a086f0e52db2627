// SplitTraining(input, split) -> outputs... (com.microsoft, since 1), attr axis = 0.
// The gradient partner of ConcatTraining: splits `input` along `axis` into the node's outputs
// with the int64 lengths in `split`; an empty `split` divides the axis evenly, any remainder
// going one element at a time to the first outputs (the schema's shape inference rule).
// T: float, double, float16, bfloat16, int32, int64, int8, uint8, bool (data is only moved).
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

class SplitTrainingKernel final : public TrainingKernel {
 public:
  SplitTrainingKernel(int64_t axis, size_t element_size) : axis_(axis), element_size_(element_size) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue input = context.GetInput(0);
    const Shape shape = ShapeOf(input);
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), "SplitTraining"));
    const int64_t outputs = static_cast<int64_t>(context.GetOutputCount());
    std::vector<int64_t> lengths = ReadIndexVector(context.GetInput(1));
    const int64_t dim = shape[axis];
    if (lengths.empty()) {
      for (int64_t i = 0; i < outputs; ++i) {
        lengths.push_back(dim / outputs + (i < dim % outputs ? 1 : 0));
      }
    }
    Require(static_cast<int64_t>(lengths.size()) == outputs,
            "SplitTraining: split has " + std::to_string(lengths.size()) + " lengths for " + std::to_string(outputs) + " outputs");
    int64_t total = 0;
    for (int64_t length : lengths) {
      Require(length >= 0, "SplitTraining: negative split length");
      total += length;
    }
    Require(total == dim, "SplitTraining: split lengths add up to " + std::to_string(total) + ", the axis has " +
                              std::to_string(dim));

    const int64_t outer = ProductOf(shape, 0, axis);
    const int64_t inner_bytes = ProductOf(shape, axis + 1, shape.size()) * static_cast<int64_t>(element_size_);
    const int64_t in_row = dim * inner_bytes;
    const auto* src = static_cast<const uint8_t*>(input.GetTensorRawData());
    int64_t column = 0;
    for (int64_t i = 0; i < outputs; ++i) {
      Shape out_shape = shape;
      out_shape[axis] = lengths[static_cast<size_t>(i)];
      auto out = context.GetOutput(static_cast<size_t>(i), out_shape);
      const int64_t chunk = out_shape[axis] * inner_bytes;
      if (out != nullptr && chunk > 0) {
        auto* dst = static_cast<uint8_t*>(out.GetTensorMutableRawData());
        for (int64_t o = 0; o < outer; ++o) {
          std::memcpy(dst + o * chunk, src + o * in_row + column, static_cast<size_t>(chunk));
        }
      }
      column += chunk;
    }
  }

 private:
  int64_t axis_;
  size_t element_size_;
};

[[maybe_unused]] const bool kRegistered =
    RegisterForEach<ONNXMEMOPT_FLOAT_TYPES, int32_t, int64_t, int8_t, uint8_t, bool>(kMicrosoftDomain, [](auto tag) {
      using T = typename decltype(tag)::type;
      OpSpec spec{"SplitTraining", {Req<T>(), Req<int64_t>()}, {Var<T>()}};
      return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
        return std::make_unique<SplitTrainingKernel>(IntAttr(info, "axis", 0), sizeof(T));
      });
    });

}  // namespace
}  // namespace onnxmemopt::training
