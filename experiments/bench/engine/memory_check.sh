#!/usr/bin/env bash
# Issue 8's memory check: a Qwen3-4B-shaped guard and a Qwen3-4B-shaped reward model (random
# weights, 8 GB of bf16 each) loaded together with bf16 storage, scoring the example rollouts;
# prints the process's peak resident memory. Needs a Release build, .venv, the Qwen3 tokenizer
# ($SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer) and about 17 GB of disk.
#   bash experiments/bench/engine/memory_check.sh [OUT_DIR]   (default: build/bench)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-build/bench}
models="$out/qwen3-4b"
tokenizer=${SAFRL_TOKENIZER_DIR:-.deps/qwen3-tokenizer}
python=.venv/bin/python
if [ ! -f "$models/reward/model.safetensors" ]; then
  $python -m safrl.testing.embedded_models "$models" "$tokenizer" --shape qwen3-4b
fi
cat > "$out/qwen3-4b-bf16.yaml" <<YAML
guard: {model: $PWD/$models/guard}
helpfulness: {model: $PWD/$models/reward, chat_format: qwen3}
runtime: {device: cpu, dtype: float32, storage_dtype: bfloat16}
YAML
rm -f "$out/qwen3-4b-scored.jsonl"
$python - "$out" <<'PY'
import resource, subprocess, sys, time
out = sys.argv[1]
start = time.time()
subprocess.run(["build/src/cli/safrl", "score", "--config", f"{out}/qwen3-4b-bf16.yaml",
                "--input", "configs/example-rollouts.jsonl",
                "--output", f"{out}/qwen3-4b-scored.jsonl"], check=True)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"peak resident memory {peak_kb / 1024 ** 2:.2f} GiB ({peak_kb} kB), "
      f"{time.time() - start:.0f} s, guard + reward model of Qwen3-4B shapes, bf16 storage")
PY
wc -l "$out/qwen3-4b-scored.jsonl"
