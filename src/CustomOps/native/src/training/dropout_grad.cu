// CUDA twin of dropout_grad.cc: DropoutGrad and BitmaskDropoutGrad on CUDAExecutionProvider.
// ratio and training_mode are read on the host (CPU inputs, as in ONNX Runtime's CUDA kernel);
// same semantics as the CPU kernel, including dx = dy when training_mode is false.
#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

template <typename D, bool kBitmask>
__global__ void DropoutGradDevice(const D* dy, const void* mask, DeviceCompute<D> scale, int64_t n, D* dx) {
  using C = DeviceCompute<D>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    bool kept;
    if constexpr (kBitmask) {
      kept = ((static_cast<const uint32_t*>(mask)[i / 32] >> (i % 32)) & 1u) != 0;
    } else {
      kept = static_cast<const bool*>(mask)[i];
    }
    dx[i] = Store<D>::From(kept ? static_cast<C>(Load(dy[i]) * scale) : C(0));
  }
}

template <typename T, bool kBitmask>
class CudaDropoutGradKernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    using D = DeviceT<T>;
    const char* op = kBitmask ? "BitmaskDropoutGrad" : "DropoutGrad";
    const Ort::ConstValue dy = context.GetInput(0);
    const Ort::ConstValue mask = context.GetInput(1);
    const Shape shape = ShapeOf(dy);
    const int64_t count = ElementCount(shape);
    if constexpr (kBitmask) {
      Require(ElementCount(ShapeOf(mask)) == (count + 31) / 32, std::string(op) + ": one uint32 mask word per 32 elements");
    } else {
      Require(ShapeOf(mask) == shape, std::string(op) + ": dy and mask must have the same shape");
    }
    const double ratio = HasInput(context, 2) ? ScalarAsDouble(context.GetInput(2), "ratio") : 0.5;
    Require(ratio >= 0.0 && ratio < 1.0, std::string(op) + ": ratio must be in [0, 1)");
    const bool training = !HasInput(context, 3) || *context.GetInput(3).GetTensorData<bool>();
    D* dx = reinterpret_cast<D*>(context.GetOutput(0, shape).GetTensorMutableData<T>());
    if (count == 0) {
      return;
    }
    cudaStream_t stream = StreamOf(context);
    const D* dy_data = reinterpret_cast<const D*>(dy.GetTensorData<T>());
    if (ratio == 0.0 || !training) {
      Check(cudaMemcpyAsync(dx, dy_data, static_cast<size_t>(count) * sizeof(T), cudaMemcpyDeviceToDevice, stream), op,
            "copying dy");
      return;
    }
    using C = DeviceCompute<D>;
    DropoutGradDevice<D, kBitmask><<<GridFor(count), kThreads, 0, stream>>>(
        dy_data, mask.GetTensorRawData(), static_cast<C>(1.0 / (1.0 - ratio)), count, dx);
    CheckLaunch(op);
  }
};

template <typename T>
bool RegisterCudaDropoutGrad() {
  return RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain,
                                                 [](auto tag) {
                                                   using T1 = typename decltype(tag)::type;
                                                   OpSpec spec{"DropoutGrad",
                                                               {Req<T>(), Req<bool>(), OptHost<T1>(), OptHost<bool>()},
                                                               {Req<T>()}};
                                                   spec.provider = kCudaProvider;
                                                   return MakeOp(std::move(spec), [](const OrtKernelInfo*) {
                                                     return std::make_unique<CudaDropoutGradKernel<T, false>>();
                                                   });
                                                 }) &&
         RegisterForEach<ONNXMEMOPT_FLOAT_TYPES>(kMicrosoftDomain, [](auto tag) {
           using T1 = typename decltype(tag)::type;
           OpSpec spec{"BitmaskDropoutGrad", {Req<T>(), Req<uint32_t>(), OptHost<T1>(), OptHost<bool>()}, {Req<T>()}};
           spec.provider = kCudaProvider;
           return MakeOp(std::move(spec),
                         [](const OrtKernelInfo*) { return std::make_unique<CudaDropoutGradKernel<T, true>>(); });
         });
}

[[maybe_unused]] const bool kRegistered = RegisterCudaDropoutGrad<float>() && RegisterCudaDropoutGrad<double>() &&
                                          RegisterCudaDropoutGrad<Ort::Float16_t>() &&
                                          RegisterCudaDropoutGrad<Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training::cuda
