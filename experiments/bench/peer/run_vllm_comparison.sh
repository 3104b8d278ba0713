#!/usr/bin/env bash
# safrl against vLLM (vllm_peer.py, issue 29) on one GRPO-shaped workload, in this one shell so
# that all see the same machine: REPEATS rounds (default 3), each running `safrl bench`, vLLM
# with its prefix cache, `safrl bench --no-prefix-reuse` and vLLM without its prefix cache, one
# after the other, so that slow phases of a shared machine spread over all four. Prints the
# median samples/s of each and the median over rounds of each round's safrl / vLLM ratios, with
# and without prefix reuse on both sides.
# Needs a Release build, .venv (scripts/setup.sh) and .venv-vllm (scripts/setup-vllm.sh).
#   bash experiments/bench/peer/run_vllm_comparison.sh CONFIG.yaml PROMPTS GROUP OUT_DIR \
#     [REPEATS]
# CONFIG's guard.model and helpfulness.model are the checkpoints both sides load; give the guard
# `max_new_tokens: 13` so that safrl decodes as many tokens as vLLM (random weights never follow
# the verdict format: safrl falls back to free decoding, docs/bench.md). Both sides use
# $SAFRL_THREADS threads (default 2). Extra vLLM options (e.g. --new-tokens 32) go in
# SAFRL_VLLM_ARGS; SAFRL_BIN names another safrl program. The first round also checks vLLM's
# greedy texts and scores against `safrl score` (--check-against CONFIG) unless
# SAFRL_VLLM_CHECK=0.
set -euo pipefail
cd "$(dirname "$0")/../../.."
config=$1 prompts=$2 group=$3 out=$4 repeats=${5:-3}
threads=${SAFRL_THREADS:-2}
safrl=${SAFRL_BIN:-build/src/cli/safrl}
for need in "$safrl" .venv/bin/python .venv-vllm/bin/python; do
  [ -x "$need" ] || { echo "run_vllm_comparison.sh: $need is missing (scripts/setup.sh," \
    "scripts/setup-vllm.sh)" >&2; exit 1; }
done
mkdir -p "$out"
workload="$out/workload-$prompts-$group.jsonl"
ids="$out/ids-$prompts-$group.json"
$safrl bench --config "$config" --prompts "$prompts" --group "$group" --dump-workload "$workload"
.venv/bin/python experiments/bench/peer/transformers_peer.py --config "$config" \
  --workload "$workload" --dump-ids "$ids" --safrl "$safrl"
for round in $(seq 1 "$repeats"); do
  echo "== round $round of $repeats, load $(cut -d' ' -f1-3 /proc/loadavg)"
  check=()
  if [ "$round" = 1 ] && [ "${SAFRL_VLLM_CHECK:-1}" = 1 ]; then
    check=(--workload "$workload" --check-against "$config")
  else
    check=(--ids "$ids")
  fi
  OMP_NUM_THREADS=$threads $safrl bench --config "$config" --prompts "$prompts" \
    --group "$group" | tee "$out/safrl-$round.json"
  # shellcheck disable=SC2086  # SAFRL_VLLM_ARGS is a list of options
  .venv-vllm/bin/python experiments/bench/peer/vllm_peer.py --config "$config" "${check[@]}" \
    --safrl "$safrl" --threads "$threads" --prefix-caching on ${SAFRL_VLLM_ARGS:-} 2>"$out/vllm-$round.log" |
    tee "$out/vllm-$round.json"
  OMP_NUM_THREADS=$threads $safrl bench --config "$config" --prompts "$prompts" \
    --group "$group" --no-prefix-reuse | tee "$out/safrl-noshare-$round.json"
  # shellcheck disable=SC2086
  .venv-vllm/bin/python experiments/bench/peer/vllm_peer.py --config "$config" --ids "$ids" \
    --threads "$threads" --prefix-caching off ${SAFRL_VLLM_ARGS:-} \
    2>"$out/vllm-noshare-$round.log" | tee "$out/vllm-noshare-$round.json"
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python - "$out" "$repeats" <<'PY' | tee "$out/summary.json"
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
runs = {name: [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, repeats + 1)]
        for name in ("safrl", "vllm", "safrl-noshare", "vllm-noshare")}
rate = {name: [x["samples_per_s"] for x in v] for name, v in runs.items()}
ratio = lambda a, b: statistics.median(x / y for x, y in zip(rate[a], rate[b]))
print(json.dumps({
    "rounds": repeats,
    **{f"{name}_samples_per_s": statistics.median(v) for name, v in rate.items()},
    "ratio_safrl_over_vllm": ratio("safrl", "vllm"),
    "ratio_safrl_noshare_over_vllm_noshare": ratio("safrl-noshare", "vllm-noshare"),
    "vllm_guard_s": [x["guard_s"] for x in runs["vllm"]],
    "vllm_helpfulness_s": [x["helpfulness_s"] for x in runs["vllm"]],
    "vllm_check": runs["vllm"][0].get("check"),
    "samples_per_s_by_round": rate}))
PY
