#!/usr/bin/env bash
# CUDA check of libonnxmemopt_ops, for a machine with an NVIDIA GPU and the CUDA toolkit
# (written for the project's H200 device runs; nothing here needs network access):
#
#   OUT=/path/to/results scripts/cuda-check.sh [bandwidth-elements]     (default 100000000)
#
# 1. Builds src/CustomOps/native/tests/cuda_kernel_check.cu with nvcc together with the kernels'
#    .cu files and runs it: every CUDA kernel (ReGelu2, ReSilu2 alpha 1 and 1.702, both
#    gradients, MsLayerNorm, MsRmsNorm and their gradients) for float32/float16/bfloat16 against
#    a float64 host reference (sizes 1, 5, 4097, 2^20+3; rows of 1, 35, 768, 4097, 11008), then a
#    bandwidth table of each float32 kernel against cudaMemcpy device-to-device on the same bytes.
# 2. Builds the whole custom-op library through CMake with CUDA on (ONNXMEMOPT_USE_CUDA), which
#    compiles the CUDA op registrations. Needs ONNX Runtime's C/C++ headers: ONNXRUNTIME_INCLUDE_DIR,
#    else the NuGet cache, else third_party/ort-include (copy build/native/include of the
#    Microsoft.ML.OnnxRuntime 1.31.1 package there and carry it); skipped with a note otherwise.
#
# Results: $OUT/nvidia-smi.txt, $OUT/cuda-check.txt, $OUT/library-build.txt, $OUT/summary.txt.
# Exit status: 0 when every step that ran passed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NATIVE="$ROOT/src/CustomOps/native"
OUT="${OUT:-$ROOT/out/cuda-check}"
ELEMENTS="${1:-100000000}"
BUILD="${CUDA_CHECK_BUILD:-$(mktemp -d)}"
mkdir -p "$OUT"
status=0
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
  summary "FAIL: nvcc not found (install the CUDA toolkit or put nvcc on PATH)"
  exit 1
fi
export PATH="$(dirname "$NVCC"):$PATH"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$NVCC" --version > "$OUT/nvcc-version.txt" 2>&1

# Compute capability of GPU 0 (e.g. 9.0 -> 90); H200/H100 are 90.
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')"
ARCH="${ARCH:-90}"
summary "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n1) (sm_$ARCH)"

# Step 1: standalone kernel check.
if "$NVCC" -O3 -std=c++17 -arch="sm_$ARCH" -lineinfo \
    -I"$NATIVE/include" -I"$NATIVE/src" \
    "$NATIVE/tests/cuda_kernel_check.cu" "$NATIVE/src/approx/two_bit_approx.cu" "$NATIVE/src/norm/ms_norm.cu" \
    -o "$BUILD/cuda_kernel_check" > "$OUT/cuda-check-build.txt" 2>&1; then
  if "$BUILD/cuda_kernel_check" "$ELEMENTS" > "$OUT/cuda-check.txt" 2>&1; then
    summary "ok: CUDA kernel correctness and bandwidth ($OUT/cuda-check.txt)"
  else
    status=1
    summary "FAIL: cuda_kernel_check (see $OUT/cuda-check.txt)"
  fi
else
  status=1
  summary "FAIL: nvcc could not build cuda_kernel_check (see $OUT/cuda-check-build.txt)"
fi

# Step 2: the whole library through CMake with the CUDA kernels and registrations.
ORT_INCLUDE="${ONNXRUNTIME_INCLUDE_DIR:-}"
for candidate in "$HOME/.nuget/packages/microsoft.ml.onnxruntime/1.31.1/build/native/include" "$ROOT/third_party/ort-include"; do
  [ -z "$ORT_INCLUDE" ] && [ -f "$candidate/onnxruntime_cxx_api.h" ] && ORT_INCLUDE="$candidate"
done
if [ -z "$ORT_INCLUDE" ]; then
  summary "skipped: library build (no ONNX Runtime headers; set ONNXRUNTIME_INCLUDE_DIR)"
elif ! command -v cmake > /dev/null; then
  summary "skipped: library build (cmake not found)"
elif cmake -S "$NATIVE" -B "$BUILD/lib" -DCMAKE_BUILD_TYPE=Release -DONNXRUNTIME_INCLUDE_DIR="$ORT_INCLUDE" \
      -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" > "$OUT/library-build.txt" 2>&1 &&
    grep -q "CUDA kernels ON" "$OUT/library-build.txt" &&
    cmake --build "$BUILD/lib" --parallel >> "$OUT/library-build.txt" 2>&1; then
  nm -C "$BUILD/lib/libonnxmemopt_ops.so" | grep -c "LaunchForward\|LaunchNormForward" >> "$OUT/library-build.txt"
  summary "ok: libonnxmemopt_ops.so built with CUDA kernels ($OUT/library-build.txt)"
else
  status=1
  summary "FAIL: library build with CUDA (see $OUT/library-build.txt)"
fi

exit $status
