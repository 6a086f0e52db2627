// Standalone check of the CUDA kernels (no ONNX Runtime needed): correctness of every op and
// element type against a float64 host reference, then a bandwidth table against a device copy.
// Built and run by scripts/cuda-check.sh on a GPU machine; exits non-zero on any mismatch.
//   cuda_kernel_check [elements_for_bandwidth]
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "approx/two_bit_approx_cuda.h"
#include "norm/ms_norm_cuda.h"

using onnxmemopt::ElementKind;
namespace approx = onnxmemopt::approx;
namespace norm = onnxmemopt::norm;

namespace {

int g_failures = 0;

#define CHECK_CUDA(call)                                                                  \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)

void CheckLaunch(const char* error, const char* what) {
  if (error != nullptr) {
    std::fprintf(stderr, "%s: %s\n", what, error);
    std::exit(2);
  }
}

// Host view of the three element types: round a double to the type and widen back.
struct TypeInfo {
  ElementKind kind;
  const char* name;
  size_t bytes;
};

const TypeInfo kTypes[] = {{ElementKind::kFloat32, "float32", 4}, {ElementKind::kFloat16, "float16", 2},
                           {ElementKind::kBFloat16, "bfloat16", 2}};

float RoundTo(ElementKind kind, double v) {
  const float f = static_cast<float>(v);
  switch (kind) {
    case ElementKind::kFloat16:
      return __half2float(__float2half_rn(f));
    case ElementKind::kBFloat16:
      return __bfloat162float(__float2bfloat16_rn(f));
    default:
      return f;
  }
}

std::vector<uint8_t> Encode(ElementKind kind, const std::vector<float>& values) {
  const size_t size = kind == ElementKind::kFloat32 ? 4 : 2;
  std::vector<uint8_t> bytes(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i) {
    if (kind == ElementKind::kFloat32) {
      std::memcpy(&bytes[i * 4], &values[i], 4);
    } else if (kind == ElementKind::kFloat16) {
      __half h = __float2half_rn(values[i]);
      std::memcpy(&bytes[i * 2], &h, 2);
    } else {
      __nv_bfloat16 b = __float2bfloat16_rn(values[i]);
      std::memcpy(&bytes[i * 2], &b, 2);
    }
  }
  return bytes;
}

std::vector<float> Decode(ElementKind kind, const std::vector<uint8_t>& bytes) {
  const size_t size = kind == ElementKind::kFloat32 ? 4 : 2;
  std::vector<float> values(bytes.size() / size);
  for (size_t i = 0; i < values.size(); ++i) {
    if (kind == ElementKind::kFloat32) {
      std::memcpy(&values[i], &bytes[i * 4], 4);
    } else if (kind == ElementKind::kFloat16) {
      __half h;
      std::memcpy(&h, &bytes[i * 2], 2);
      values[i] = __half2float(h);
    } else {
      __nv_bfloat16 b;
      std::memcpy(&b, &bytes[i * 2], 2);
      values[i] = __bfloat162float(b);
    }
  }
  return values;
}

// Units in the last place of the type between two of its values (NaN == NaN).
int64_t UlpDistance(ElementKind kind, float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  auto ordered = [&](float v) -> int64_t {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    const int shift = kind == ElementKind::kFloat32 ? 0 : (kind == ElementKind::kFloat16 ? -1 : 16);
    int64_t magnitude;
    if (shift == -1) {
      __half h = __float2half_rn(v);
      uint16_t hb;
      std::memcpy(&hb, &h, 2);
      magnitude = hb & 0x7fff;
      return (hb & 0x8000) ? -magnitude : magnitude;
    }
    bits >>= shift;
    magnitude = bits & (kind == ElementKind::kFloat32 ? 0x7fffffffu : 0x7fffu);
    const bool negative = kind == ElementKind::kFloat32 ? (bits >> 31) != 0 : (bits >> 15) != 0;
    return negative ? -magnitude : magnitude;
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t bytes) { CHECK_CUDA(cudaMalloc(&p, bytes == 0 ? 1 : bytes)); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

std::vector<float> Inputs(int64_t n, uint32_t seed, const double* thresholds, double divisor) {
  std::vector<float> x;
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f, -15.5f, -14.2f, 15.5f};
  for (float s : specials) x.push_back(s);
  for (int i = 0; i < 3; ++i) {
    const float t = static_cast<float>(thresholds[i] / divisor);
    x.push_back(t);
    x.push_back(std::nextafter(t, -INFINITY));
    x.push_back(std::nextafter(t, INFINITY));
  }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> wide(-20.0f, 20.0f);
  std::normal_distribution<float> narrow(0.0f, 1.5f);
  while (static_cast<int64_t>(x.size()) < n) x.push_back(x.size() % 2 ? wide(rng) : narrow(rng));
  x.resize(static_cast<size_t>(n));
  return x;
}

void CheckTwoBit(bool gelu, double alpha, const TypeInfo& type, int64_t n) {
  const approx::StepTable& table = gelu ? approx::kReGelu2Table : approx::kReSilu2Table;
  const double divisor = gelu ? 1.0 : alpha;
  std::vector<float> x = Inputs(n, static_cast<uint32_t>(n), table.thresholds, divisor);
  for (float& v : x) v = RoundTo(type.kind, v);
  std::vector<float> dy(static_cast<size_t>(n));
  std::mt19937 rng(static_cast<uint32_t>(n) + 1);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (float& v : dy) v = RoundTo(type.kind, normal(rng));

  const int64_t code_bytes = (n + 3) / 4;
  DeviceBuffer dx_in(n * type.bytes), dy_out(n * type.bytes), d_code(code_bytes), d_dy(n * type.bytes), d_dx(n * type.bytes);
  std::vector<uint8_t> xb = Encode(type.kind, x), dyb = Encode(type.kind, dy);
  CHECK_CUDA(cudaMemcpy(dx_in.p, xb.data(), xb.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_dy.p, dyb.data(), dyb.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemset(d_code.p, 0xff, code_bytes));
  CheckLaunch(approx::cuda::LaunchForward(nullptr, gelu ? approx::cuda::Activation::kGelu : approx::cuda::Activation::kSilu,
                                          alpha, type.kind, dx_in.p, dy_out.p, static_cast<uint8_t*>(d_code.p), n,
                                          approx::MakeThresholds(table, divisor)),
              "forward");
  CheckLaunch(approx::cuda::LaunchBackward(nullptr, type.kind, d_dy.p, static_cast<const uint8_t*>(d_code.p), d_dx.p, n,
                                           approx::MakeLevels(table)),
              "backward");
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<uint8_t> yb(n * type.bytes), code(static_cast<size_t>(code_bytes)), dxb(n * type.bytes);
  CHECK_CUDA(cudaMemcpy(yb.data(), dy_out.p, yb.size(), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(code.data(), d_code.p, code.size(), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(dxb.data(), d_dx.p, dxb.size(), cudaMemcpyDeviceToHost));
  std::vector<float> y = Decode(type.kind, yb), dx = Decode(type.kind, dxb);

  int bad = 0;
  for (int64_t i = 0; i < n && bad < 5; ++i) {
    const double xd = x[i];
    double exact;
    if (gelu) exact = std::isinf(xd) && xd < 0 ? -0.0 : xd * 0.5 * std::erfc(-xd / std::sqrt(2.0));
    else exact = std::isinf(xd) && xd < 0 ? -0.0 : xd / (1.0 + std::exp(-alpha * xd));
    const float expected = RoundTo(type.kind, exact);
    int expected_code = 0;
    for (double c : table.thresholds) expected_code += xd > c / divisor ? 1 : 0;
    const int got_code = (code[i >> 2] >> (2 * (i & 3))) & 3;
    const float expected_dx = RoundTo(type.kind, static_cast<float>(table.levels[expected_code]) * dy[i]);
    const bool grad_ok = std::isnan(expected_dx) ? std::isnan(dx[i]) : std::memcmp(&expected_dx, &dx[i], 4) == 0 ||
                                                                          (expected_dx == 0.0f && dx[i] == 0.0f);
    if (UlpDistance(type.kind, y[i], expected) > 1 || got_code != expected_code || !grad_ok) {
      std::printf("  MISMATCH %s %s n=%" PRId64 " i=%" PRId64 " x=%.9g y=%.9g ref=%.9g code=%d/%d dx=%.9g/%.9g\n",
                  gelu ? "ReGelu2" : "ReSilu2", type.name, n, i, xd, y[i], exact, got_code, expected_code, dx[i],
                  expected_dx);
      ++bad;
    }
  }
  if (n % 4 != 0 && (code[code_bytes - 1] >> (2 * (n % 4))) != 0) {
    std::printf("  MISMATCH unused code bits not zero (n=%" PRId64 ")\n", n);
    ++bad;
  }
  std::printf("%-8s alpha=%-5g %-8s n=%-9" PRId64 " %s\n", gelu ? "ReGelu2" : "ReSilu2", alpha, type.name, n,
              bad ? "FAIL" : "ok");
  g_failures += bad ? 1 : 0;
}

void CheckNorm(bool centred, const TypeInfo& type, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  const float epsilon = 1e-5f;
  std::mt19937 rng(static_cast<uint32_t>(n * 3 + (centred ? 1 : 2)));
  std::normal_distribution<float> normal(centred ? 0.5f : 0.0f, 1.5f), grad(0.0f, 0.7f);
  std::vector<float> x(static_cast<size_t>(n)), g(static_cast<size_t>(n));
  for (float& v : x) v = RoundTo(type.kind, normal(rng));
  for (float& v : g) v = RoundTo(type.kind, grad(rng));
  DeviceBuffer d_x(n * type.bytes), d_z(n * type.bytes), d_r(rows * 4), d_g(n * type.bytes), d_dx(n * type.bytes);
  std::vector<uint8_t> xb = Encode(type.kind, x), gb = Encode(type.kind, g);
  CHECK_CUDA(cudaMemcpy(d_x.p, xb.data(), xb.size(), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(d_g.p, gb.data(), gb.size(), cudaMemcpyHostToDevice));
  CheckLaunch(norm::cuda::LaunchNormForward(nullptr, centred, type.kind, d_x.p, d_z.p, static_cast<float*>(d_r.p), rows,
                                            cols, epsilon),
              "norm forward");
  CheckLaunch(norm::cuda::LaunchNormBackward(nullptr, centred, type.kind, d_g.p, d_z.p, static_cast<const float*>(d_r.p),
                                             d_dx.p, rows, cols),
              "norm backward");
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<uint8_t> zb(n * type.bytes), dxb(n * type.bytes);
  std::vector<float> rstd(static_cast<size_t>(rows));
  CHECK_CUDA(cudaMemcpy(zb.data(), d_z.p, zb.size(), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(dxb.data(), d_dx.p, dxb.size(), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(rstd.data(), d_r.p, rows * 4, cudaMemcpyDeviceToHost));
  std::vector<float> z = Decode(type.kind, zb), dx = Decode(type.kind, dxb);
  const double tol_z = type.kind == ElementKind::kFloat32 ? 2e-6 : (type.kind == ElementKind::kFloat16 ? 1.0 / 1024 : 1.0 / 128);
  const double tol_dx = type.kind == ElementKind::kFloat32 ? 1e-5 : 4 * tol_z;
  int bad = 0;
  for (int64_t r = 0; r < rows && bad < 5; ++r) {
    const float* xr = &x[r * cols];
    const float* gr = &g[r * cols];
    double mean = 0, second = 0;
    if (centred) {
      for (int64_t i = 0; i < cols; ++i) mean += xr[i];
      mean /= cols;
    }
    for (int64_t i = 0; i < cols; ++i) second += (xr[i] - mean) * (xr[i] - mean);
    const double rs = 1.0 / std::sqrt(second / cols + epsilon);
    double mg = 0, mgx = 0, zmax = 0, dmax = 0, gmax = 0;
    for (int64_t i = 0; i < cols; ++i) {
      const double xh = (xr[i] - mean) * rs;
      mg += gr[i];
      mgx += gr[i] * xh;
      zmax = std::fmax(zmax, std::fabs(xh));
      gmax = std::fmax(gmax, std::fabs(gr[i]));
    }
    mg /= cols;
    mgx /= cols;
    std::vector<double> ref(static_cast<size_t>(cols));
    for (int64_t i = 0; i < cols; ++i) {
      ref[i] = rs * (gr[i] - (centred ? mg : 0.0) - (xr[i] - mean) * rs * mgx);
      dmax = std::fmax(dmax, std::fabs(ref[i]));
    }
    dmax = std::fmax(dmax, rs * gmax);
    if (std::fabs(rstd[r] - rs) > 1e-6 * rs) ++bad;
    for (int64_t i = 0; i < cols; ++i) {
      const double zr = (xr[i] - mean) * rs;
      if (std::fabs(z[r * cols + i] - zr) > tol_z * zmax || std::fabs(dx[r * cols + i] - ref[i]) > tol_dx * dmax) {
        if (bad < 5) std::printf("  MISMATCH row %" PRId64 " col %" PRId64 ": z %.9g/%.9g dx %.9g/%.9g\n", r, i, z[r * cols + i], zr, dx[r * cols + i], ref[i]);
        ++bad;
        break;
      }
    }
  }
  std::printf("%-12s %-8s rows=%-6" PRId64 " cols=%-6" PRId64 " %s\n", centred ? "MsLayerNorm" : "MsRmsNorm", type.name,
              rows, cols, bad ? "FAIL" : "ok");
  g_failures += bad ? 1 : 0;
}

template <typename F>
double TimeMs(F&& launch, int repeats) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  launch();
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<float> times;
  for (int r = 0; r < repeats; ++r) {
    CHECK_CUDA(cudaEventRecord(start));
    launch();
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return times[times.size() / 2];
}

void Bandwidth(int64_t n) {
  const int64_t cols = 768;
  n = n / cols * cols;
  const int64_t rows = n / cols;
  DeviceBuffer a(n * 4), b(n * 4), c(n * 4), code((n + 3) / 4), r(rows * 4);
  CHECK_CUDA(cudaMemset(a.p, 0, n * 4));
  CHECK_CUDA(cudaMemset(c.p, 0, n * 4));
  CHECK_CUDA(cudaMemset(r.p, 0, rows * 4));
  const auto thresholds = approx::MakeThresholds(approx::kReGelu2Table, 1.0);
  const auto levels = approx::MakeLevels(approx::kReGelu2Table);
  auto* codes = static_cast<uint8_t*>(code.p);
  auto* rstd = static_cast<float*>(r.p);
  struct Row {
    const char* name;
    double bytes;
    double ms;
  };
  std::vector<Row> table;
  table.push_back({"copy (cudaMemcpy D2D)", 8.0 * n, TimeMs([&] { CHECK_CUDA(cudaMemcpyAsync(b.p, a.p, n * 4, cudaMemcpyDeviceToDevice)); }, 20)});
  table.push_back({"ReGelu2", 8.25 * n, TimeMs([&] { CheckLaunch(approx::cuda::LaunchForward(nullptr, approx::cuda::Activation::kGelu, 1.0, ElementKind::kFloat32, a.p, b.p, codes, n, thresholds), "gelu"); }, 20)});
  table.push_back({"ReGelu2Grad", 8.25 * n, TimeMs([&] { CheckLaunch(approx::cuda::LaunchBackward(nullptr, ElementKind::kFloat32, a.p, codes, b.p, n, levels), "gelu grad"); }, 20)});
  table.push_back({"ReSilu2", 8.25 * n, TimeMs([&] { CheckLaunch(approx::cuda::LaunchForward(nullptr, approx::cuda::Activation::kSilu, 1.0, ElementKind::kFloat32, a.p, b.p, codes, n, thresholds), "silu"); }, 20)});
  table.push_back({"ReSilu2Grad", 8.25 * n, TimeMs([&] { CheckLaunch(approx::cuda::LaunchBackward(nullptr, ElementKind::kFloat32, a.p, codes, b.p, n, levels), "silu grad"); }, 20)});
  table.push_back({"MsLayerNorm", 8.0 * n + 4.0 * rows, TimeMs([&] { CheckLaunch(norm::cuda::LaunchNormForward(nullptr, true, ElementKind::kFloat32, a.p, b.p, rstd, rows, cols, 1e-5f), "ln"); }, 20)});
  table.push_back({"MsLayerNormGrad", 12.0 * n + 4.0 * rows, TimeMs([&] { CheckLaunch(norm::cuda::LaunchNormBackward(nullptr, true, ElementKind::kFloat32, a.p, c.p, rstd, b.p, rows, cols), "ln grad"); }, 20)});
  table.push_back({"MsRmsNormGrad", 12.0 * n + 4.0 * rows, TimeMs([&] { CheckLaunch(norm::cuda::LaunchNormBackward(nullptr, false, ElementKind::kFloat32, a.p, c.p, rstd, b.p, rows, cols), "rms grad"); }, 20)});
  std::printf("\n| kernel (float32, %" PRId64 " elements, norm rows of 768) | median ms | GB/s | vs copy |\n|---|---:|---:|---:|\n", n);
  const double copy = table[0].bytes / table[0].ms / 1e6;
  for (const Row& row : table) {
    const double gbs = row.bytes / row.ms / 1e6;
    std::printf("| %s | %.3f | %.1f | %.0f %% |\n", row.name, row.ms, gbs, 100.0 * gbs / copy);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t bandwidth_elements = argc > 1 ? std::strtoll(argv[1], nullptr, 10) : 100000000;
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %.0f GiB)\n", prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0);
  for (const TypeInfo& type : kTypes) {
    for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{4097}, int64_t{(1 << 20) + 3}}) {
      CheckTwoBit(true, 1.0, type, n);
      CheckTwoBit(false, 1.0, type, n);
    }
    CheckTwoBit(false, 1.702, type, 4099);
    for (bool centred : {true, false}) {
      CheckNorm(centred, type, 6, 1);
      CheckNorm(centred, type, 4, 768);
      CheckNorm(centred, type, 3, 4097);
      CheckNorm(centred, type, 2, 11008);
      CheckNorm(centred, type, 257, 35);
    }
  }
  std::printf("correctness: %s (%d failing cases)\n", g_failures ? "FAIL" : "ok", g_failures);
  if (bandwidth_elements > 0) Bandwidth(bandwidth_elements);
  return g_failures ? 1 : 0;
}
