#!/usr/bin/env bash
# Tokenizer throughput, single thread: safrl's C++ tokenizer against Hugging Face tokenizers, the
# reference it is held to (tokenizer_bench_hf.py), on the same >= 10 MB multilingual corpus in the
# same run, plus an exactness check of every document's ids against Hugging Face's.
#
# Usage: experiments/bench/tokenizer/tokenizer_bench.sh [BUILD_DIR]  (default: build-bench-tokenizer)
# Needs scripts/setup.sh to have run (.venv, the Qwen3 tokenizer in .deps/qwen3-tokenizer or
# $SAFRL_TOKENIZER_DIR). Takes a minute or two, most of it the build.
# Writes experiments/bench/RESULTS-tokenizer.part.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."

build_dir=${1:-build-bench-tokenizer}
tokenizer_dir=${SAFRL_TOKENIZER_DIR:-.deps/qwen3-tokenizer}
python=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAFRL_WITH_TORCH=OFF \
  -DSAFRL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target tokenizer_bench -j 2 >/dev/null

here=experiments/bench/tokenizer
$python $here/tokenizer_make_corpus.py "$work/corpus.jsonl" | tee "$work/corpus.txt"
$python $here/tokenizer_bench_hf.py "$work/corpus.jsonl" "$work/hf_ids.jsonl" \
  --tokenizer "$tokenizer_dir" --repeat 3 | tee "$work/hf.json"
"$build_dir/experiments/bench/tokenizer_bench" --tokenizer "$tokenizer_dir" --corpus "$work/corpus.jsonl" \
  --reference "$work/hf_ids.jsonl" --repeat 3 | tee "$work/safrl.json"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
$python - "$work" "$cpu" "$(nproc)" "$(date -u +%Y-%m-%d)" <<'EOF' > experiments/bench/RESULTS-tokenizer.part.md
import json, sys
work, cpu, cores, date = sys.argv[1:5]
hf = json.load(open(f"{work}/hf.json"))
safrl = json.load(open(f"{work}/safrl.json"))
corpus = open(f"{work}/corpus.txt").read().strip()
print(f"""## Tokenizer throughput (single thread)

Command: `experiments/bench/tokenizer/tokenizer_bench.sh` ({date}, {cpu}, {cores} cores, one used).

Corpus: the gettext translations in /usr/share/locale for zh_CN, ar, es, fr, id, it, ja, ko, ru, their
English originals and Python standard-library code, in documents of about 2 KB; {corpus}.
Each implementation encodes every document on its own (no special tokens added), one thread;
each time is the best of 3 passes.

| implementation | MB/s | tokens/s | encode s | load s |
| --- | ---: | ---: | ---: | ---: |
| safrl (C++, `safrl::tokenizer`) | {safrl['mb_per_s']:.2f} | {safrl['tokens_per_s']:,.0f} | {safrl['encode_s']:.2f} | {safrl['load_s']:.2f} |
| {hf['implementation']}, the reference | {hf['mb_per_s']:.2f} | {hf['tokens_per_s']:,.0f} | {hf['encode_s']:.2f} | {hf['load_s']:.2f} |

safrl is {safrl['mb_per_s'] / hf['mb_per_s']:.1f}x Hugging Face tokenizers. Exactness on the same run:
{safrl['documents_differing_from_reference']} of {safrl['documents']} documents ({safrl['tokens']:,} tokens)
differ from Hugging Face's ids. The machine is shared with other builds: figures from a busy
moment can be a third lower; rerun when it is idle.""")
EOF
cat experiments/bench/RESULTS-tokenizer.part.md
