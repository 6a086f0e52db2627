// Indexing gradients of ONNX Runtime's training ops (com.microsoft, since 1):
//   SliceGrad(dY, shape, starts, ends, axes?, steps?) -> dX
//       dX has `shape`, is zero outside the slice and holds dY inside it; starts/ends/axes/steps
//       follow ONNX Slice-13 (negative values count from the end, clamping, negative steps).
//   GatherGrad(shape, indices, dY) -> dX, attr axis = 0
//       dX has `shape`; every dY slice is added at the row its index selected (repeated indices
//       accumulate; negative indices count from the end).
//   GatherElementsGrad(dY, shape, indices) -> dX, attr axis = 0
//       dX has `shape`; dY[p] is added at p with its `axis` coordinate replaced by indices[p].
// SliceGrad T: float, double, float16, bfloat16, int32, int64, bool (data is only moved);
// Tind: int32, int64. GatherGrad T: float16, float, double, bfloat16; I: int64, int32;
// Tind: int32, int64. GatherElementsGrad T: float16, float, double, bfloat16; Tind: int32, int64.
#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

Shape ReadShapeInput(const Ort::ConstValue& value, const char* op) {
  Shape shape = ReadIndexVector(value);
  for (int64_t dim : shape) {
    Require(dim >= 0, std::string(op) + ": shape " + ShapeText(shape) + " has a negative dimension");
  }
  return shape;
}

class SliceGradKernel final : public TrainingKernel {
 public:
  explicit SliceGradKernel(size_t element_size) : element_size_(element_size) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Shape shape = ReadShapeInput(context.GetInput(1), "SliceGrad");
    const std::vector<int64_t> starts = ReadIndexVector(context.GetInput(2));
    const std::vector<int64_t> ends = ReadIndexVector(context.GetInput(3));
    const std::vector<int64_t> axes = HasInput(context, 4) ? ReadIndexVector(context.GetInput(4)) : std::vector<int64_t>{};
    const std::vector<int64_t> steps = HasInput(context, 5) ? ReadIndexVector(context.GetInput(5)) : std::vector<int64_t>{};
    const size_t rank = shape.size();
    Require(starts.size() == ends.size() && (axes.empty() || axes.size() == starts.size()) &&
                (steps.empty() || steps.size() == starts.size()),
            "SliceGrad: starts, ends, axes and steps must have the same length");

    // Per dimension: first index, step and count of the slice (the whole dimension by default).
    Shape first(rank, 0);
    Shape step(rank, 1);
    Shape counts = shape;
    for (size_t k = 0; k < starts.size(); ++k) {
      const int64_t axis_value = axes.empty() ? static_cast<int64_t>(k) : axes[k];
      const size_t axis = static_cast<size_t>(NormalizeAxis(axis_value, static_cast<int64_t>(rank), "SliceGrad"));
      const int64_t s = steps.empty() ? 1 : steps[k];
      Require(s != 0, "SliceGrad: steps must not be 0");
      const int64_t dim = shape[axis];
      int64_t begin = starts[k] < 0 ? starts[k] + dim : starts[k];
      int64_t end = ends[k] < 0 ? ends[k] + dim : ends[k];
      if (dim == 0) {
        begin = 0;
        counts[axis] = 0;  // an empty dimension slices to nothing (and has no valid index to clamp to)
      } else if (s > 0) {
        begin = std::clamp<int64_t>(begin, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        counts[axis] = end > begin ? (end - begin + s - 1) / s : 0;
      } else {
        begin = std::clamp<int64_t>(begin, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        counts[axis] = begin > end ? (begin - end + (-s) - 1) / (-s) : 0;
      }
      first[axis] = begin;
      step[axis] = s;
    }
    Require(ShapeOf(dy) == counts, "SliceGrad: dY " + ShapeText(ShapeOf(dy)) + " does not match the slice " +
                                       ShapeText(counts) + " of " + ShapeText(shape));

    auto out = context.GetOutput(0, shape);
    auto* dx = static_cast<uint8_t*>(out.GetTensorMutableRawData());
    const int64_t total = ElementCount(shape);
    if (total == 0) {
      return;
    }
    std::memset(dx, 0, static_cast<size_t>(total) * element_size_);
    const auto* src = static_cast<const uint8_t*>(dy.GetTensorRawData());
    Shape stride(rank, 1);
    for (size_t d = rank; d-- > 1;) {
      stride[d - 1] = stride[d] * shape[d];
    }
    // Walk dY in order, carrying the matching dX offset.
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) {
      offset += first[d] * stride[d];
    }
    std::vector<int64_t> index(rank, 0);
    const int64_t count = ElementCount(counts);
    for (int64_t n = 0; n < count; ++n) {
      std::memcpy(dx + offset * static_cast<int64_t>(element_size_), src + n * static_cast<int64_t>(element_size_),
                  element_size_);
      for (size_t d = rank; d-- > 0;) {
        offset += step[d] * stride[d];
        if (++index[d] < counts[d]) {
          break;
        }
        offset -= step[d] * stride[d] * counts[d];
        index[d] = 0;
      }
    }
  }

 private:
  size_t element_size_;
};

template <typename T>
class GatherGradKernel final : public TrainingKernel {
 public:
  explicit GatherGradKernel(int64_t axis) : axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    const Shape shape = ReadShapeInput(context.GetInput(0), "GatherGrad");
    const Ort::ConstValue indices_value = context.GetInput(1);
    const std::vector<int64_t> indices = ReadIndexVector(indices_value);
    const Shape indices_shape = ShapeOf(indices_value);
    const Ort::ConstValue dy = context.GetInput(2);
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), "GatherGrad"));

    Shape expected(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis));
    expected.insert(expected.end(), indices_shape.begin(), indices_shape.end());
    expected.insert(expected.end(), shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, shape.end());
    Require(ShapeOf(dy) == expected, "GatherGrad: dY " + ShapeText(ShapeOf(dy)) + " should be " + ShapeText(expected));

    const int64_t outer = ProductOf(shape, 0, axis);
    const int64_t dim = shape[axis];
    const int64_t inner = ProductOf(shape, axis + 1, shape.size());
    const int64_t picks = static_cast<int64_t>(indices.size());
    T* dx = context.GetOutput(0, shape).GetTensorMutableData<T>();
    const T* dy_data = dy.GetTensorData<T>();
    const int64_t total = ElementCount(shape);
    if (total == 0) {
      return;
    }
    // All-zero bits are 0.0 in every float type: rows nothing picked stay zero.
    std::memset(static_cast<void*>(dx), 0, static_cast<size_t>(total) * sizeof(T));

    // Picks grouped by target row (stable, so each row sums its contributions in pick order):
    // memory stays O(picks + inner) however large the table (an embedding's gradient is).
    std::vector<int64_t> rows(static_cast<size_t>(picks));
    for (int64_t q = 0; q < picks; ++q) {
      const int64_t index = indices[static_cast<size_t>(q)];
      const int64_t row = index < 0 ? index + dim : index;
      Require(row >= 0 && row < dim, "GatherGrad: index " + std::to_string(index) + " is out of range for a dimension of " +
                                         std::to_string(dim));
      rows[static_cast<size_t>(q)] = row;
    }
    std::vector<int64_t> order(static_cast<size_t>(picks));
    for (int64_t q = 0; q < picks; ++q) {
      order[static_cast<size_t>(q)] = q;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return rows[static_cast<size_t>(a)] < rows[static_cast<size_t>(b)]; });
    std::vector<int64_t> group_start;  // positions in `order` where a new target row begins
    for (int64_t k = 0; k < picks; ++k) {
      if (k == 0 || rows[static_cast<size_t>(order[static_cast<size_t>(k)])] !=
                        rows[static_cast<size_t>(order[static_cast<size_t>(k - 1)])]) {
        group_start.push_back(k);
      }
    }
    const int64_t groups = static_cast<int64_t>(group_start.size());
    group_start.push_back(picks);

    const int64_t items = outer * groups;
    ParallelRange(context, items, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
      std::vector<Accumulator> sum(static_cast<size_t>(inner));
      for (int64_t item = begin; item < end; ++item) {
        const int64_t o = item / groups;
        const int64_t g = item % groups;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (int64_t k = group_start[static_cast<size_t>(g)]; k < group_start[static_cast<size_t>(g + 1)]; ++k) {
          const T* source = dy_data + (o * picks + order[static_cast<size_t>(k)]) * inner;
          for (int64_t i = 0; i < inner; ++i) {
            sum[static_cast<size_t>(i)] += Element<T>::Load(source[i]);
          }
        }
        const int64_t row = rows[static_cast<size_t>(order[static_cast<size_t>(group_start[static_cast<size_t>(g)])])];
        T* target = dx + (o * dim + row) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          target[i] = Element<T>::Store(static_cast<ComputeOf<T>>(sum[static_cast<size_t>(i)]));
        }
      }
    });
  }

 private:
  int64_t axis_;
};

template <typename T>
class GatherElementsGradKernel final : public TrainingKernel {
 public:
  explicit GatherElementsGradKernel(int64_t axis) : axis_(axis) {}

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Shape shape = ReadShapeInput(context.GetInput(1), "GatherElementsGrad");
    const Ort::ConstValue indices_value = context.GetInput(2);
    const std::vector<int64_t> indices = ReadIndexVector(indices_value);
    const Shape index_shape = ShapeOf(indices_value);
    const size_t rank = shape.size();
    const size_t axis = static_cast<size_t>(NormalizeAxis(axis_, static_cast<int64_t>(rank), "GatherElementsGrad"));
    Require(ShapeOf(dy) == index_shape, "GatherElementsGrad: dY and indices must have the same shape");
    Require(index_shape.size() == rank, "GatherElementsGrad: indices must have the rank of the data");
    for (size_t d = 0; d < rank; ++d) {
      Require(d == axis || index_shape[d] <= shape[d], "GatherElementsGrad: indices exceed the data outside axis");
    }
    Shape stride(rank, 1);
    for (size_t d = rank; d-- > 1;) {
      stride[d - 1] = stride[d] * shape[d];
    }
    std::vector<Accumulator> sums(static_cast<size_t>(ElementCount(shape)), 0.0);
    const T* dy_data = dy.GetTensorData<T>();
    std::vector<int64_t> position(rank, 0);
    const int64_t count = ElementCount(index_shape);
    const int64_t dim = shape[axis];
    for (int64_t n = 0; n < count; ++n) {
      int64_t target = 0;
      for (size_t d = 0; d < rank; ++d) {
        int64_t coordinate = position[d];
        if (d == axis) {
          coordinate = indices[static_cast<size_t>(n)] < 0 ? indices[static_cast<size_t>(n)] + dim : indices[static_cast<size_t>(n)];
          Require(coordinate >= 0 && coordinate < dim, "GatherElementsGrad: index " +
                                                           std::to_string(indices[static_cast<size_t>(n)]) + " is out of range");
        }
        target += coordinate * stride[d];
      }
      sums[static_cast<size_t>(target)] += Element<T>::Load(dy_data[n]);
      for (size_t d = rank; d-- > 0;) {
        if (++position[d] < index_shape[d]) {
          break;
        }
        position[d] = 0;
      }
    }
    T* dx = context.GetOutput(0, shape).GetTensorMutableData<T>();
    for (size_t n = 0; n < sums.size(); ++n) {
      dx[n] = Element<T>::Store(static_cast<ComputeOf<T>>(sums[n]));
    }
  }

 private:
  int64_t axis_;
};

template <typename T>
bool RegisterGatherElementsGrad() {
  return RegisterForEach<int32_t, int64_t>(kMicrosoftDomain, [](auto tag) {
    using TInd = typename decltype(tag)::type;
    OpSpec spec{"GatherElementsGrad", {Req<T>(), Req<int64_t>(), Req<TInd>()}, {Req<T>()}};
    return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
      return std::make_unique<GatherElementsGradKernel<T>>(IntAttr(info, "axis", 0));
    });
  });
}

template <typename T>
bool RegisterSliceGrad() {
  return RegisterForEach<int32_t, int64_t>(kMicrosoftDomain, [](auto tag) {
    using TInd = typename decltype(tag)::type;
    OpSpec spec{"SliceGrad", {Req<T>(), Req<int64_t>(), Req<TInd>(), Req<TInd>(), Opt<TInd>(), Opt<TInd>()}, {Req<T>()}};
    return MakeOp(std::move(spec), [](const OrtKernelInfo*) { return std::make_unique<SliceGradKernel>(sizeof(T)); });
  });
}

template <typename T, typename I>
bool RegisterGatherGrad() {
  return RegisterForEach<int32_t, int64_t>(kMicrosoftDomain, [](auto tag) {
    using TInd = typename decltype(tag)::type;
    OpSpec spec{"GatherGrad", {Req<I>(), Req<TInd>(), Req<T>()}, {Req<T>()}};
    return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
      return std::make_unique<GatherGradKernel<T>>(IntAttr(info, "axis", 0));
    });
  });
}

template <typename T>
bool RegisterGatherGradForShapeTypes() {
  return RegisterGatherGrad<T, int64_t>() && RegisterGatherGrad<T, int32_t>();
}

[[maybe_unused]] const bool kRegistered =
    RegisterSliceGrad<float>() && RegisterSliceGrad<double>() && RegisterSliceGrad<Ort::Float16_t>() &&
    RegisterSliceGrad<Ort::BFloat16_t>() && RegisterSliceGrad<int32_t>() && RegisterSliceGrad<int64_t>() &&
    RegisterSliceGrad<bool>() && RegisterGatherGradForShapeTypes<float>() && RegisterGatherGradForShapeTypes<double>() &&
    RegisterGatherGradForShapeTypes<Ort::Float16_t>() && RegisterGatherGradForShapeTypes<Ort::BFloat16_t>() &&
    RegisterGatherElementsGrad<float>() && RegisterGatherElementsGrad<double>() &&
    RegisterGatherElementsGrad<Ort::Float16_t>() && RegisterGatherElementsGrad<Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training
