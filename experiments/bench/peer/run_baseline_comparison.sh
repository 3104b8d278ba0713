#!/usr/bin/env bash
# safrl against its peer, Hugging Face transformers itself (transformers_peer.py), on one
# GRPO-shaped workload, in this one shell so that all see the same machine: REPEATS rounds
# (default 3), each running `safrl bench`, `safrl bench --no-prefix-reuse` and the peer one after
# the other, so that slow phases of a shared machine spread over all three. Prints the median
# samples/s of each and the median over rounds of each round's safrl / transformers ratio.
# Needs a Release build and .venv (scripts/setup.sh).
#   bash experiments/bench/peer/run_baseline_comparison.sh CONFIG.yaml PROMPTS GROUP OUT_DIR \
#     [REPEATS]
# CONFIG's guard.model and helpfulness.model are the checkpoints both sides load. Extra peer
# options (e.g. --batch 8, --threads 2) go in SAFRL_PEER_ARGS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
config=$1 prompts=$2 group=$3 out=$4 repeats=${5:-3}
mkdir -p "$out"
safrl=build/src/cli/safrl
python=.venv/bin/python
workload="$out/workload-$prompts-$group.jsonl"
$safrl bench --config "$config" --prompts "$prompts" --group "$group" --dump-workload "$workload"
for round in $(seq 1 "$repeats"); do
  echo "== round $round of $repeats, load $(cut -d' ' -f1-3 /proc/loadavg)"
  $safrl bench --config "$config" --prompts "$prompts" --group "$group" |
    tee "$out/safrl-$round.json"
  $safrl bench --config "$config" --prompts "$prompts" --group "$group" --no-prefix-reuse |
    tee "$out/safrl-noshare-$round.json"
  # shellcheck disable=SC2086  # SAFRL_PEER_ARGS is a list of options
  $python experiments/bench/peer/transformers_peer.py --config "$config" --workload "$workload" \
    ${SAFRL_PEER_ARGS:-} | tee "$out/transformers-$round.json"
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
$python - "$out" "$repeats" <<'PY' | tee "$out/summary.json"
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
rate = {name: [json.load(open(f"{out}/{name}-{r}.json"))["samples_per_s"]
               for r in range(1, repeats + 1)]
        for name in ("safrl", "safrl-noshare", "transformers")}
peer = rate["transformers"]
summary = {"rounds": repeats,
           **{f"{name}_samples_per_s": statistics.median(v) for name, v in rate.items()},
           "ratio_safrl_over_transformers": statistics.median(
               s / p for s, p in zip(rate["safrl"], peer)),
           "ratio_safrl_noshare_over_transformers": statistics.median(
               s / p for s, p in zip(rate["safrl-noshare"], peer)),
           "samples_per_s_by_round": rate}
print(json.dumps(summary))
PY
