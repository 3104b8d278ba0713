#!/usr/bin/env bash
# Run on the CPU machine before a session with the GPU machine: puts into .deps/gpu (ignored by
# git, carried to the device with `carry: [".deps/gpu"]`) what the device lacks, since it reaches
# no package registry:
#   root/       the Debian packages the build needs besides LibTorch, extracted (headers, CMake
#               and pkg-config files, yaml-cpp and utf8proc shared libraries, pkgconf, ninja)
#   ids.json    the token ids of `safrl bench`'s workload (P x G) for both models, rendered and
#               tokenized by safrl here, so transformers sees exactly the same inputs
#   tokenizer/  the real Qwen3 tokenizer.json and tokenizer_config.json
#   checkpoints/ the test checkpoints with transformers' outputs on this CPU
#               (safrl.testing.checkpoints)
#   python/     pyzmq (the lock's version) for the device's Python 3.12, which has msgpack but
#               not pyzmq: safrl.testing.embedded_models imports the safrl package, whose client
#               needs both
# Needs the Release build (bash scripts/setup.sh).
#   bash experiments/bench/gpu/prepare.sh [PROMPTS] [GROUP]     (default 16 x 8)
set -euo pipefail
cd "$(dirname "$0")/../../.."
prompts=${1:-16} group=${2:-8}
out=.deps/gpu
rm -rf "$out"
mkdir -p "$out/debs" "$out/root" "$out/tokenizer"
packages=(nlohmann-json3-dev libcli11-dev libeigen3-dev libyaml-cpp-dev libyaml-cpp0.7
          libutf8proc-dev libutf8proc2 libpcre2-dev libpcre2-8-0 pkgconf pkgconf-bin libpkgconf3
          ninja-build)
(cd "$out/debs" && apt-get download -qq "${packages[@]}" 2>/dev/null)
for deb in "$out"/debs/*.deb; do dpkg-deb -x "$deb" "$out/root"; done
rm -rf "$out/debs" "$out/root/usr/share/doc" "$out/root/usr/share/man" "$out/root/usr/share/lintian"

.venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d "$out/wheels" \
  "pyzmq==$(sed -n 's/^pyzmq==//p' requirements.lock)"
.venv/bin/python -m zipfile -e "$out"/wheels/pyzmq-*.whl "$out/python"
rm -rf "$out/wheels"

cp .deps/qwen3-tokenizer/tokenizer.json .deps/qwen3-tokenizer/tokenizer_config.json "$out/tokenizer/"
.venv/bin/python -m safrl.testing.checkpoints "$out/checkpoints" >/dev/null
build/src/cli/safrl bench --config experiments/bench/embedded.yaml --prompts "$prompts" --group "$group" \
  --dump-workload "$out/workload.jsonl"
.venv/bin/python experiments/bench/peer/transformers_peer.py --guard build/embedded/guard \
  --reward build/embedded/reward --workload "$out/workload.jsonl" --dump-ids "$out/ids.json"
echo "prompts=$prompts group=$group" > "$out/workload.env"
echo "prepare: $(du -sh "$out" | cut -f1) in $out ($prompts prompts x $group responses)"
