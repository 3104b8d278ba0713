#!/usr/bin/env bash
# Installs every Debian package safrl needs to build, test and run (Debian 12, as root).
# Idempotent: packages already present are skipped by apt, and the apt update runs only when
# something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread libopenblas-dev
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev
  libeigen3-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libpcre2-dev libutf8proc-dev
  libcli11-dev libspdlog-dev libcpp-httplib-dev
  clang libclang-rt-14-dev clang-format
  python3 python3-torch python3-numpy python3-zmq python3-msgpack python3-pytest
  python3-jinja2 python3-matplotlib python3-pandas python3-nbconvert python3-ipykernel
)

# Node.js and npm (for the reference tokenizer) come from Debian only where the machine has none:
# a nodesource nodejs already bundles npm and conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

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
