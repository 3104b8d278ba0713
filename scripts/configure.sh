#!/usr/bin/env bash
# configure.sh BUILD_DIR [CMAKE_ARGS...]: configures a build of safrl against the LibTorch inside
# .venv's torch (PyPI's CUDA build) with this machine's CUDA toolkit, so that the CUDA code paths
# compile and link here even where no GPU runs them. Every LibTorch build of the project goes
# through here (the fuzzers build without LibTorch, scripts/fuzz-smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=$1
shift
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
command -v nvcc >/dev/null 2>&1 || {
  echo "configure: nvcc not found (neither on PATH nor in /usr/local/cuda/bin). safrl links the CUDA" \
    "LibTorch of PyPI's torch, whose CMake config needs the CUDA toolkit (13.0, as torch 2.11+cu130)" \
    "to build, not a GPU: install it, or put its bin/ on PATH" >&2
  exit 1
}
[ -x .venv/bin/python ] || { echo "configure: no .venv; run bash scripts/setup.sh" >&2; exit 1; }
torch_prefix=$(.venv/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
# TORCH_CUDA_ARCH_LIST: torch's CMake config would otherwise probe for a GPU; 9.0 is Hopper (the
# H100 and H200 of the GPU machine).
# CMake's own output goes to BUILD_DIR/configure.log, shown only when configuring fails.
mkdir -p "$build_dir"
log="$build_dir/configure.log"
TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DSAFRL_PYTHON="$PWD/.venv/bin/python" "$@" >"$log" 2>&1 ||
  { cat "$log" >&2; exit 1; }
