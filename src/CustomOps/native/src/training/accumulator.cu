// CUDA twin of accumulator.cc's InPlaceAccumulatorV2 on CUDAExecutionProvider: the fed device
// buffer is updated in place (buffer = overwrite_flag ? value : buffer + value) and updated_flag
// is set to true on the device. overwrite_flag is read on the host (a CPU input, as in ONNX
// Runtime's own CUDA kernel). Without this twin a CUDA session would run the CPU kernel on a
// host copy of a device buffer and the accumulation would be lost.
// Types as on the CPU: T = T_GRAD in {float16, float, double, bfloat16}, float <- float16/bfloat16.
#include "onnxmemopt/training_common.cuh"

namespace onnxmemopt::training::cuda {
namespace {

template <typename D, typename G>
__global__ void AccumulateDevice(D* buffer, const G* value, int64_t value_step, int64_t n, bool overwrite) {
  using C = DeviceCompute<D>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const C add = static_cast<C>(Load(value[i * value_step]));
    buffer[i] = Store<D>::From(overwrite ? add : static_cast<C>(Load(buffer[i]) + add));
  }
}

template <typename T, typename TGrad>
class CudaInPlaceAccumulatorV2Kernel final : public TrainingKernel {
 public:
  void Compute(Ort::KernelContext& context) override {
    using D = DeviceT<T>;
    using G = DeviceT<TGrad>;
    const Ort::ConstValue buffer = context.GetInput(0);
    const Ort::ConstValue value = context.GetInput(1);
    const Shape shape = ShapeOf(buffer);
    const int64_t count = ElementCount(shape);
    const int64_t value_count = ElementCount(ShapeOf(value));
    Require(value_count == count || value_count == 1, "InPlaceAccumulatorV2: value must match the buffer or be a single value");
    const bool overwrite = HasInput(context, 2) && *context.GetInput(2).GetTensorData<bool>();
    cudaStream_t stream = StreamOf(context);
    // The documented in-place update of the fed buffer (see accumulator.cc).
    D* data = reinterpret_cast<D*>(const_cast<T*>(buffer.GetTensorData<T>()));
    if (count > 0) {
      AccumulateDevice<D, G><<<GridFor(count), kThreads, 0, stream>>>(
          data, reinterpret_cast<const G*>(value.GetTensorData<TGrad>()), value_count == 1 ? 0 : 1, count, overwrite);
      CheckLaunch("InPlaceAccumulatorV2");
    }
    bool* flag = context.GetOutput(0, Shape{1}).GetTensorMutableData<bool>();
    Check(cudaMemsetAsync(flag, 1, sizeof(bool), stream), "InPlaceAccumulatorV2", "setting updated_flag");
    if (context.GetOutputCount() > 1) {
      auto out = context.GetOutput(1, shape);
      if (out != nullptr && count > 0 && out.GetTensorMutableData<T>() != buffer.GetTensorData<T>()) {
        Check(cudaMemcpyAsync(out.GetTensorMutableData<T>(), data, static_cast<size_t>(count) * sizeof(T),
                              cudaMemcpyDeviceToDevice, stream),
              "InPlaceAccumulatorV2", "copying accumulation_buffer_out");
      }
    }
  }
};

template <typename T, typename TGrad>
bool RegisterCudaAccumulator() {
  return RegisterForEach<T>(kMicrosoftDomain, [](auto) {
    OpSpec spec{"InPlaceAccumulatorV2", {Req<T>(), Req<TGrad>(), OptHost<bool>()}, {Req<bool>(), Opt<T>()}};
    spec.provider = kCudaProvider;
    return MakeOp(std::move(spec),
                  [](const OrtKernelInfo*) { return std::make_unique<CudaInPlaceAccumulatorV2Kernel<T, TGrad>>(); });
  });
}

[[maybe_unused]] const bool kRegistered =
    RegisterCudaAccumulator<float, float>() && RegisterCudaAccumulator<double, double>() &&
    RegisterCudaAccumulator<Ort::Float16_t, Ort::Float16_t>() && RegisterCudaAccumulator<Ort::BFloat16_t, Ort::BFloat16_t>() &&
    RegisterCudaAccumulator<float, Ort::Float16_t>() && RegisterCudaAccumulator<float, Ort::BFloat16_t>();

}  // namespace
}  // namespace onnxmemopt::training::cuda
