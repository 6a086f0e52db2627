// Which CPU code path kernels with an explicit AVX-512 variant take. Hot loops are otherwise
// compiled once per x86-64 level (target_clones, see kernel_common.h); a few compute-bound
// kernels also have hand-written AVX-512 code that the compiler cannot derive from the portable
// loop (in-register table lookups). Both paths must meet the same accuracy contract, so the
// portable one can be forced, for tests and for comparing results across machines:
// ONNXMEMOPT_CPU_KERNELS=portable in the environment (read when a kernel first asks), or
// OnnxMemOptForcePortableCpuKernels(1) at run time (cpu_isa.cc).
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace onnxmemopt {

inline std::atomic<bool>& PortableCpuKernelsForced() {
  static std::atomic<bool> forced{[] {
    const char* value = std::getenv("ONNXMEMOPT_CPU_KERNELS");
    return value != nullptr && std::strcmp(value, "portable") == 0;
  }()};
  return forced;
}

// AVX-512 F/DQ/VL/BW with FMA, AVX2 and BMI2 (all part of the x86-64-v4 level), checked once.
inline bool CpuHasAvx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("bmi2");
  return has;
#else
  return false;
#endif
}

inline bool UseAvx512Kernels() { return CpuHasAvx512() && !PortableCpuKernelsForced().load(std::memory_order_relaxed); }

}  // namespace onnxmemopt
