#!/usr/bin/env bash
# Compile check of the CUDA code on a machine without the CUDA toolkit (CI, laptops):
#
#   scripts/cuda-syntax-check.sh
#
# clang compiles every .cu file of the custom-op library (and the CUDA kernel test driver) for
# sm_80 down to PTX, and type-checks their host side, against declaration-only stand-ins for the
# toolkit headers (scripts/cuda-stubs); g++ type-checks every .cc with ONNXMEMOPT_USE_CUDA on, so
# the CUDA op registrations compile too. This catches syntax, type and template errors in code
# that nvcc would otherwise see only on a GPU machine. It links and runs nothing: numbers come
# from scripts/cuda-check.sh on a machine with a GPU.
# Exit status: 0 when everything compiled (or clang is missing: then it says so and skips).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NATIVE="$ROOT/src/CustomOps/native"
STUBS="$ROOT/scripts/cuda-stubs"
ORT_INCLUDE="${ONNXRUNTIME_INCLUDE_DIR:-${NUGET_PACKAGES:-$HOME/.nuget/packages}/microsoft.ml.onnxruntime/1.31.1/build/native/include}"

CLANG=""
for candidate in clang++ clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
  if command -v "$candidate" > /dev/null; then CLANG="$candidate"; break; fi
done
if [ -z "$CLANG" ]; then
  echo "cuda-syntax-check: skipped, no clang++ on PATH (it compiles CUDA without the toolkit)"
  exit 0
fi
if [ ! -f "$ORT_INCLUDE/onnxruntime_cxx_api.h" ]; then
  echo "cuda-syntax-check: ONNX Runtime headers not found at $ORT_INCLUDE (restore the solution first, or set ONNXRUNTIME_INCLUDE_DIR)" >&2
  exit 1
fi

PTX_DIR="$(mktemp -d)"
trap 'rm -rf "$PTX_DIR"' EXIT
failures=0
common=(-std=c++17 -DONNXMEMOPT_USE_CUDA -DORT_API_MANUAL_INIT -I"$NATIVE/include" -I"$NATIVE/src" -I"$ORT_INCLUDE")
# clang defines __CUDACC__ only through the toolkit's wrapper headers, which -nocudainc leaves out.
cuda=(-x cuda --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -D__CUDACC__ -I"$STUBS" -Wall -Wextra -Werror)

for source in "$NATIVE"/src/*/*.cu "$NATIVE"/tests/*.cu; do
  name="${source#"$NATIVE"/}"
  ptx="$PTX_DIR/$(basename "$source").ptx"
  if "$CLANG" "${cuda[@]}" "${common[@]}" -I"$(dirname "$source")" -O2 --cuda-device-only -S -o "$ptx" "$source" \
     && "$CLANG" "${cuda[@]}" "${common[@]}" -I"$(dirname "$source")" --cuda-host-only -fsyntax-only "$source"; then
    echo "ok    $name ($(grep -c '^\.visible \.entry\|^\.entry\|\.entry ' "$ptx") kernels in PTX)"
  else
    echo "FAIL  $name"
    failures=$((failures + 1))
  fi
done

for source in "$NATIVE"/src/*.cc "$NATIVE"/src/*/*.cc; do
  name="${source#"$NATIVE"/}"
  if g++ "${common[@]}" -I"$(dirname "$source")" -Wall -Wextra -Werror -fsyntax-only "$source"; then
    echo "ok    $name (host, CUDA registrations on)"
  else
    echo "FAIL  $name"
    failures=$((failures + 1))
  fi
done

if [ "$failures" -gt 0 ]; then
  echo "cuda-syntax-check: $failures file(s) failed" >&2
  exit 1
fi
echo "cuda-syntax-check: every CUDA source compiled with $("$CLANG" --version | head -n 1)"
