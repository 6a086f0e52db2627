// Run-time switch between the hand-written AVX-512 kernels and the portable ones (cpu_isa.h).
// Exported beside RegisterCustomOps so that a host (the test suite) can check both paths on one
// machine. Returns the previous setting.
#include "onnxmemopt/cpu_isa.h"

extern "C" __attribute__((visibility("default"))) int OnnxMemOptForcePortableCpuKernels(int force) {
  return onnxmemopt::PortableCpuKernelsForced().exchange(force != 0) ? 1 : 0;
}
