#!/usr/bin/env bash
# Issue 8's GPU measurements, run ON the GPU machine by the `run` tool, after prepare.sh here:
#   run(command="bash experiments/bench/gpu/run.sh", carry=[".deps/gpu"], timeout_s=590)
# Stages (each reports and the next goes on, so one call gives everything that works):
#   preflight  what the machine has (GPU, Python packages, compilers, cmake)
#   golden     transformers and tokenizers on the GPU machine against the test checkpoints'
#              outputs that transformers gave on the CPU machine, and the tokenizer corpus
#              (hf_golden.py)
#   build      safrl against the machine's CUDA LibTorch (SAFRL_WITH_SERVER=OFF: no ZeroMQ there),
#              in the background while the models are generated
#   models     a Qwen3-4B-shaped guard and reward model, random weights, bf16
#   baseline   transformers itself on the same token ids (experiments/bench/peer/
#              transformers_peer.py: generate() for the guard, AutoModelForSequenceClassification
#              for the reward model)
#   safrl      safrl bench (cuda, bf16) on the same workload; prefill_bench on the 4B shape
#   vllm       vLLM's offline engine on the same token ids (experiments/bench/peer/vllm_peer.py,
#              bf16, prefix cache on and off) where the device's Python has vllm: the device
#              reaches no package registry, and vLLM's CUDA wheel (227 MiB for 0.34.0, plus a
#              torch of its own) is more than a call can carry (64 MiB), so today it reports
#              itself skipped
# Results go to $OUT (the run tool brings them back). Written for PyTorch 2.11 + transformers 5.x
# + CUDA 13 as machine.md describes the device; NOT RUN YET: no session has had a GPU so far.
# SAFRL_GPU_STAGES picks stages (default all), SAFRL_GPU_TORCH_PREFIX overrides LibTorch's CMake
# prefix, SAFRL_GPU_DEVICE / SAFRL_GPU_DTYPE the safrl run (cuda / bfloat16): for trying the
# non-GPU parts on the CPU machine, e.g. SAFRL_GPU_STAGES="preflight build".
set -uo pipefail
cd "$(dirname "$0")/../../.."
stages=" ${SAFRL_GPU_STAGES:-preflight build golden models baseline safrl vllm} "
want() { [[ "$stages" == *" $1 "* ]]; }
out=${OUT:-/tmp/safrl-gpu-out}
mkdir -p "$out"
root=$PWD/.deps/gpu/root
work=${SAFRL_GPU_WORK:-/tmp/safrl-gpu}
python=${SAFRL_GPU_PYTHON:-python3}
mkdir -p "$work"
stage() { echo "== $(date +%T) $*"; }

if want preflight; then
stage preflight
nvidia-smi -L || echo "no nvidia-smi"
$python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")'
$python -c 'import transformers, tokenizers; print("transformers", transformers.__version__, "tokenizers", tokenizers.__version__)'
for tool in cmake ninja g++ c++ nvcc make; do printf '%s: %s\n' "$tool" "$(command -v $tool || echo missing)"; done
ldd --version | head -1; grep PRETTY /etc/os-release; nproc; df -h /tmp | tail -1
fi

build_pid=
if want build; then
stage build "(background, log in $out/build.log)"
torch_prefix=${SAFRL_GPU_TORCH_PREFIX:-$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')}
export PKG_CONFIG_LIBDIR=$root/usr/lib/x86_64-linux-gnu/pkgconfig:$root/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$root
export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
ninja=$(command -v ninja || echo "$root/usr/bin/ninja")
(
  cmake -S . -B build-gpu -G Ninja -DCMAKE_MAKE_PROGRAM="$ninja" -DCMAKE_BUILD_TYPE=Release \
    -DSAFRL_BUILD_TESTS=OFF -DSAFRL_WITH_SERVER=OFF -DPKG_CONFIG_EXECUTABLE="$root/usr/bin/pkgconf" \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$root/usr" -DTORCH_CUDA_ARCH_LIST="9.0" &&
    cmake --build build-gpu --target safrl prefill_bench -j "$(nproc)"
) > "$out/build.log" 2>&1 &
build_pid=$!
fi

if want golden; then
stage golden
# The checkpoints and transformers' CPU outputs made on the CPU machine (prepare.sh), so that
# the GPU's transformers is checked against another machine's, not against itself.
$python experiments/bench/gpu/hf_golden.py .deps/gpu/checkpoints .deps/gpu/tokenizer "$out"
fi

if want models; then
stage models
if [ ! -f "$work/qwen3-4b/reward/model.safetensors" ]; then
  # The safrl package imports pyzmq: prepare.sh carries it for a Python without it.
  python_path=${PYTHONPATH:-}
  $python -c 'import zmq' 2>/dev/null ||
    python_path=$PWD/.deps/gpu/python${PYTHONPATH:+:$PYTHONPATH}
  PYTHONPATH=$python_path \
    $python -m safrl.testing.embedded_models "$work/qwen3-4b" .deps/gpu/tokenizer --shape qwen3-4b
fi
fi

if want baseline; then
stage baseline
$python experiments/bench/peer/transformers_peer.py --guard "$work/qwen3-4b/guard" \
  --reward "$work/qwen3-4b/reward" --ids .deps/gpu/ids.json --device cuda | tee "$out/transformers.json"
fi

if [ -n "$build_pid" ]; then
  stage "waiting for the build"
  wait $build_pid; echo "build exit $?"; tail -5 "$out/build.log"
fi

if want safrl; then
stage safrl
device=${SAFRL_GPU_DEVICE:-cuda}
dtype=${SAFRL_GPU_DTYPE:-bfloat16}
cat > "$work/gpu.yaml" <<YAML
guard: {model: $work/qwen3-4b/guard}
helpfulness: {model: $work/qwen3-4b/reward, chat_format: qwen3}
runtime: {device: $device, dtype: $dtype, storage_dtype: $dtype}
YAML
source .deps/gpu/workload.env  # prompts=, group= of the workload in ids.json
build-gpu/src/cli/safrl bench --config "$work/gpu.yaml" --prompts "$prompts" --group "$group" |
  tee "$out/safrl.json"
build-gpu/src/cli/safrl bench --config "$work/gpu.yaml" --prompts "$prompts" --group "$group" \
  --no-prefix-reuse | tee "$out/safrl-noshare.json"
build-gpu/experiments/bench/prefill_bench experiments/bench/configs/qwen3-4b.json \
  --tokens 1024,2048,4096,8192,16384 --device "$device" --dtype "$dtype" --storage "$dtype" |
  tee "$out/prefill-4b.txt"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee "$out/nvidia-smi.csv"
fi
if want vllm; then
stage vllm
if $python -c 'import vllm' 2>/dev/null; then
  for caching in on off; do
    $python experiments/bench/peer/vllm_peer.py --guard "$work/qwen3-4b/guard" \
      --reward "$work/qwen3-4b/reward" --ids .deps/gpu/ids.json --dtype bfloat16 \
      --prefix-caching $caching 2>"$out/vllm-$caching.log" | tee "$out/vllm-$caching.json"
  done
else
  echo "vllm: SKIPPED: the device's Python has no vllm (no registry to install it from)" |
    tee "$out/vllm-skipped.txt"
fi
fi
stage done
