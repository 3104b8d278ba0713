#!/usr/bin/env bash
# Installs the Debian packages safrl needs to build and run (Debian 12, as root), and with --tests
# those only the tests use: clang for the fuzzers and the sanitizer build's runtime, clang-format,
# strace for one security test, qemu-user to emulate a CPU without AVX-512 (tests/scripts/
# test_cpu_isa.py). LibTorch and every Python package come from PyPI instead, into .venv
# (scripts/setup-python.sh). Idempotent: packages already present are skipped, and apt-get update
# runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev
  libeigen3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev  # the build is configured with its tests
  nlohmann-json3-dev libpcre2-dev libutf8proc-dev libcurl4-openssl-dev
  libcli11-dev libspdlog-dev
)
[ "${1:-}" = --tests ] && packages+=(clang libclang-rt-14-dev clang-format strace qemu-user)
# The interpreter the virtual environment is made from: the machine's python3 where it has the
# venv module (pyenv's, on these machines), else Debian's.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3 python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
