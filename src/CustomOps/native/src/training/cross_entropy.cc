// Softmax cross-entropy of ONNX Runtime's training ops (com.microsoft, since 1):
//   SoftmaxCrossEntropyLossInternal(scores, labels, weights?, ignore_index?) -> output, log_prob
//       attrs reduction = "mean", output_type (optional)
//   SoftmaxCrossEntropyLossGrad(dY, log_prob, label, weight?) -> d_logits
//       attrs reduction = "mean", ignore_index (optional)
//   SoftmaxCrossEntropyLossInternalGrad(dY, log_prob, label, weight?, ignore_index?, bias?) -> d_logits
//       attrs reduction = "mean", output_type (optional)
// Scores/log_prob are [N, C, d1..dk] (classes on axis 1), labels [N, d1..dk], weights [C].
// Per sample i with label l (not ignored): loss_i = -log_prob[i, l] * w[l]; reduction "none"
// keeps loss_i, "sum" adds them, "mean" divides the sum by the summed weights of the samples that
// are not ignored (by their count without weights); an all-ignored batch is not divided, as in
// ONNX Runtime. d_logits[i, c] = (exp(log_prob[i, c]) - [c == l]) * w[l] * dY_i with dY_i the
// upstream gradient of sample i (reduction "none") or dY (/ the mean's divisor); ignored samples
// get 0; the InternalGrad `bias` is added elementwise (ORTModule fuses a residual gradient there).
// T: float16, float, double, bfloat16; Tind: int32, int64; output_type other than T is refused.
// Buffers: log_prob may take the scores' buffer and d_logits log_prob's (ONNX Runtime does so when
// the node is that input's last reader and the shapes are static, which the shape inference below
// provides), so the kernels finish reading each input element before writing the output element
// over it. That halves the pair of [N, C, ...] tensors a language model's loss holds.
#include <cmath>

#include "onnxmemopt/training_common.h"

namespace onnxmemopt::training {
namespace {

enum class Reduction { kNone, kSum, kMean };

Reduction ParseReduction(const std::string& text, const char* op) {
  if (text == "none") return Reduction::kNone;
  if (text == "sum") return Reduction::kSum;
  if (text == "mean") return Reduction::kMean;
  Fail(std::string(op) + ": unknown reduction '" + text + "'");
}

// The shared layout: N*D samples, C classes; class c of sample (n, d) is at (n*C + c)*D + d.
struct Layout {
  int64_t batch = 0;    // N
  int64_t classes = 0;  // C
  int64_t inner = 0;    // D = d1 * ... * dk
  int64_t Samples() const { return batch * inner; }
  int64_t ClassIndex(int64_t sample, int64_t c) const {
    const int64_t n = sample / inner;
    const int64_t d = sample % inner;
    return (n * classes + c) * inner + d;
  }
};

Layout CheckLayout(const Shape& scores, const Shape& labels, const char* op) {
  bool ok = scores.size() >= 2 && labels.size() + 1 == scores.size() && labels[0] == scores[0];
  for (size_t i = 1; ok && i < labels.size(); ++i) {
    ok = labels[i] == scores[i + 1];
  }
  Require(ok, std::string(op) + ": scores " + ShapeText(scores) + " must be labels " + ShapeText(labels) +
                  " with the class dimension inserted at axis 1");
  return Layout{scores[0], scores[1], ProductOf(scores, 2, scores.size())};
}

// Per-sample label and weight; weight 0 marks an ignored sample.
struct Targets {
  std::vector<int64_t> label;
  std::vector<Accumulator> weight;
  Accumulator divisor = 1.0;  // what "mean" divides by (1 when nothing counts)
};

template <typename T, typename TInd>
Targets ReadTargets(const Layout& layout, const TInd* labels, const T* weights, std::optional<int64_t> ignore_index,
                    const char* op) {
  Targets targets;
  const int64_t samples = layout.Samples();
  targets.label.resize(static_cast<size_t>(samples));
  targets.weight.resize(static_cast<size_t>(samples));
  Accumulator total = 0.0;
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t label = static_cast<int64_t>(labels[i]);
    const size_t k = static_cast<size_t>(i);
    if (ignore_index.has_value() && label == *ignore_index) {
      targets.label[k] = 0;
      targets.weight[k] = 0.0;
      continue;
    }
    Require(label >= 0 && label < layout.classes, std::string(op) + ": label " + std::to_string(label) +
                                                      " is outside [0, " + std::to_string(layout.classes) + ")");
    targets.label[k] = label;
    targets.weight[k] = weights != nullptr ? Accumulator(Element<T>::Load(weights[label])) : 1.0;
    total += weights != nullptr ? targets.weight[k] : 1.0;
  }
  targets.divisor = total != 0.0 ? total : 1.0;
  return targets;
}

std::optional<int64_t> IgnoreIndexInput(const Ort::KernelContext& context, size_t index) {
  if (!HasInput(context, index)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(ScalarAsDouble(context.GetInput(index), "ignore_index"));
}

template <typename T>
void RefuseOutputType(const OrtKernelInfo* info, const char* op) {
  const std::optional<int64_t> output_type = OptionalIntAttr(info, "output_type");
  Require(!output_type.has_value() || *output_type == static_cast<int64_t>(Element<T>::kType),
          std::string(op) + ": output_type different from the input type is not supported");
}

template <typename T, typename TInd>
class SoftmaxCrossEntropyLossInternalKernel final : public TrainingKernel {
 public:
  explicit SoftmaxCrossEntropyLossInternalKernel(const OrtKernelInfo* info)
      : reduction_(ParseReduction(StringAttr(info, "reduction", "mean"), kOp)) {
    RefuseOutputType<T>(info, kOp);
  }

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue scores = context.GetInput(0);
    const Ort::ConstValue labels = context.GetInput(1);
    const Shape scores_shape = ShapeOf(scores);
    const Shape label_shape = ShapeOf(labels);
    const Layout layout = CheckLayout(scores_shape, label_shape, kOp);
    const T* weights = HasInput(context, 2) ? context.GetInput(2).GetTensorData<T>() : nullptr;
    if (weights != nullptr) {
      Require(ElementCount(ShapeOf(context.GetInput(2))) == layout.classes, std::string(kOp) + ": weights must be [C]");
    }
    const Targets targets =
        ReadTargets<T, TInd>(layout, labels.GetTensorData<TInd>(), weights, IgnoreIndexInput(context, 3), kOp);

    T* loss = context.GetOutput(0, reduction_ == Reduction::kNone ? label_shape : Shape{}).GetTensorMutableData<T>();
    T* log_prob = context.GetOutput(1, scores_shape).GetTensorMutableData<T>();
    const T* x = scores.GetTensorData<T>();
    std::vector<Accumulator> sample_loss(static_cast<size_t>(layout.Samples()));

    ParallelRange(context, layout.Samples(), std::max<int64_t>(1, 8192 / std::max<int64_t>(layout.classes, 1)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t i = begin; i < end; ++i) {
                      Accumulator max = -INFINITY;
                      for (int64_t c = 0; c < layout.classes; ++c) {
                        max = std::max<Accumulator>(max, Element<T>::Load(x[layout.ClassIndex(i, c)]));
                      }
                      Accumulator sum = 0.0;
                      for (int64_t c = 0; c < layout.classes; ++c) {
                        sum += std::exp(Element<T>::Load(x[layout.ClassIndex(i, c)]) - max);
                      }
                      const Accumulator log_sum = max + std::log(sum);
                      // Read before the row is overwritten: log_prob may be the scores' buffer.
                      const size_t k = static_cast<size_t>(i);
                      const Accumulator picked = Element<T>::Load(x[layout.ClassIndex(i, targets.label[k])]) - log_sum;
                      sample_loss[k] = targets.weight[k] == 0.0 ? 0.0 : -picked * targets.weight[k];
                      for (int64_t c = 0; c < layout.classes; ++c) {
                        const int64_t at = layout.ClassIndex(i, c);
                        log_prob[at] = Element<T>::Store(static_cast<ComputeOf<T>>(Element<T>::Load(x[at]) - log_sum));
                      }
                    }
                  });

    if (reduction_ == Reduction::kNone) {
      for (size_t k = 0; k < sample_loss.size(); ++k) {
        loss[k] = Element<T>::Store(static_cast<ComputeOf<T>>(sample_loss[k]));
      }
      return;
    }
    Accumulator total = 0.0;
    for (Accumulator value : sample_loss) {
      total += value;
    }
    if (reduction_ == Reduction::kMean) {
      total /= targets.divisor;
    }
    loss[0] = Element<T>::Store(static_cast<ComputeOf<T>>(total));
  }

 private:
  static constexpr const char* kOp = "SoftmaxCrossEntropyLossInternal";
  Reduction reduction_;
};

// Both gradient ops: `internal` selects SoftmaxCrossEntropyLossInternalGrad's inputs
// (ignore_index as input 4, optional bias as input 5) over SoftmaxCrossEntropyLossGrad's
// (ignore_index attribute).
template <typename T, typename TInd, bool kInternal>
class SoftmaxCrossEntropyLossGradKernel final : public TrainingKernel {
 public:
  explicit SoftmaxCrossEntropyLossGradKernel(const OrtKernelInfo* info)
      : reduction_(ParseReduction(StringAttr(info, "reduction", "mean"), Name())),
        ignore_index_attr_(kInternal ? std::nullopt : OptionalIntAttr(info, "ignore_index")) {
    if (kInternal) {
      RefuseOutputType<T>(info, Name());
    }
  }

  void Compute(Ort::KernelContext& context) override {
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue log_prob = context.GetInput(1);
    const Ort::ConstValue labels = context.GetInput(2);
    const Shape prob_shape = ShapeOf(log_prob);
    const Shape label_shape = ShapeOf(labels);
    const Layout layout = CheckLayout(prob_shape, label_shape, Name());
    const T* weights = HasInput(context, 3) ? context.GetInput(3).GetTensorData<T>() : nullptr;
    if (weights != nullptr) {
      Require(ElementCount(ShapeOf(context.GetInput(3))) == layout.classes, std::string(Name()) + ": weight must be [C]");
    }
    const std::optional<int64_t> ignore_index = kInternal ? IgnoreIndexInput(context, 4) : ignore_index_attr_;
    const Targets targets = ReadTargets<T, TInd>(layout, labels.GetTensorData<TInd>(), weights, ignore_index, Name());

    const Shape dy_shape = ShapeOf(dy);
    const T* dy_data = dy.GetTensorData<T>();
    if (reduction_ == Reduction::kNone) {
      Require(dy_shape == label_shape, std::string(Name()) + ": with reduction 'none' dY must have the labels' shape");
    } else {
      Require(ElementCount(dy_shape) == 1, std::string(Name()) + ": with a reduction dY must be a scalar");
    }
    const T* bias = nullptr;
    if (kInternal && HasInput(context, 5)) {
      Require(ShapeOf(context.GetInput(5)) == prob_shape, std::string(Name()) + ": bias must have log_prob's shape");
      bias = context.GetInput(5).GetTensorData<T>();
    }
    const Accumulator scalar_dy = reduction_ == Reduction::kNone ? 0.0 : Accumulator(Element<T>::Load(dy_data[0]));
    const Accumulator scale = reduction_ == Reduction::kMean ? scalar_dy / targets.divisor : scalar_dy;

    T* d_logits = context.GetOutput(0, prob_shape).GetTensorMutableData<T>();
    const T* lp = log_prob.GetTensorData<T>();
    ParallelRange(context, layout.Samples(), std::max<int64_t>(1, 8192 / std::max<int64_t>(layout.classes, 1)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t i = begin; i < end; ++i) {
                      const size_t k = static_cast<size_t>(i);
                      const Accumulator upstream =
                          reduction_ == Reduction::kNone ? Accumulator(Element<T>::Load(dy_data[i])) : scale;
                      const Accumulator factor = targets.weight[k] * upstream;
                      for (int64_t c = 0; c < layout.classes; ++c) {
                        const int64_t at = layout.ClassIndex(i, c);
                        Accumulator value = 0.0;
                        if (targets.weight[k] != 0.0) {
                          const Accumulator hit = c == targets.label[k] ? 1.0 : 0.0;
                          value = (std::exp(Accumulator(Element<T>::Load(lp[at]))) - hit) * factor;
                        }
                        if (bias != nullptr) {
                          value += Element<T>::Load(bias[at]);
                        }
                        // lp[at] (possibly this very element: d_logits may be log_prob's buffer)
                        // was read above; bias is never declared in place, so it is intact.
                        d_logits[at] = Element<T>::Store(static_cast<ComputeOf<T>>(value));
                      }
                    }
                  });
  }

 private:
  static constexpr const char* Name() {
    return kInternal ? "SoftmaxCrossEntropyLossInternalGrad" : "SoftmaxCrossEntropyLossGrad";
  }
  Reduction reduction_;
  std::optional<int64_t> ignore_index_attr_;
};

// The loss is known once the labels are: a scalar, or the labels' shape for reduction "none".
// (ONNX's own SoftmaxCrossEntropyLoss knows the scalar without the labels; waiting for them keeps
// the rule one the memory estimator can mirror without the attribute, and training graphs feed
// labels with their shape.)
void InferLossShape(const ShapeInference& inference) {
  if (!inference.InputShapeKnown(1)) {
    return;
  }
  if (inference.StringAttributeOr("reduction", "mean") == "none") {
    inference.SetOutput(0, inference.InputType(0), inference.InputShape(1));
  } else {
    inference.SetOutput(0, inference.InputType(0), {});
  }
}

// log_prob has the scores' shape and may take their buffer; d_logits has log_prob's and may take
// its buffer (the gradient ops' input 1).
void DeclareForwardBuffers(OpSpec& spec) {
  spec.same_shape = {{1, 0}};
  spec.infer_shapes = &InferLossShape;
  spec.may_inplace = {{0, 1}};
}

void DeclareGradientBuffers(OpSpec& spec) {
  spec.same_shape = {{0, 1}};
  spec.may_inplace = {{1, 0}};
}

template <typename TInd>
bool RegisterForIndex() {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(
             kMicrosoftDomain,
             [](auto tag) {
               using T = typename decltype(tag)::type;
               OpSpec spec{"SoftmaxCrossEntropyLossInternal",
                           {Req<T>(), Req<TInd>(), Opt<T>(), Opt<int64_t>()},
                           {Req<T>(), Req<T>()}};
               DeclareForwardBuffers(spec);
               return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
                 return std::make_unique<SoftmaxCrossEntropyLossInternalKernel<T, TInd>>(info);
               });
             }) &&
         RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(
             kMicrosoftDomain,
             [](auto tag) {
               using T = typename decltype(tag)::type;
               OpSpec spec{"SoftmaxCrossEntropyLossGrad", {Req<T>(), Req<T>(), Req<TInd>(), Opt<T>()}, {Req<T>()}};
               DeclareGradientBuffers(spec);
               return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
                 return std::make_unique<SoftmaxCrossEntropyLossGradKernel<T, TInd, false>>(info);
               });
             }) &&
         RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
           using T = typename decltype(tag)::type;
           OpSpec spec{"SoftmaxCrossEntropyLossInternalGrad",
                       {Req<T>(), Req<T>(), Req<TInd>(), Opt<T>(), Opt<int64_t>(), Opt<T>()},
                       {Req<T>()}};
           DeclareGradientBuffers(spec);
           return MakeOp(std::move(spec), [](const OrtKernelInfo* info) {
             return std::make_unique<SoftmaxCrossEntropyLossGradKernel<T, TInd, true>>(info);
           });
         });
}

[[maybe_unused]] const bool kRegistered = RegisterForIndex<int64_t>() && RegisterForIndex<int32_t>();

}  // namespace
}  // namespace onnxmemopt::training
