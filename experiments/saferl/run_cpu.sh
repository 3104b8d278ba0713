#!/usr/bin/env bash
# The SafeRL experiment shrunk to two CPU cores, end to end through `safrl serve`: trains tiny
# stand-in judges on a hand-labelled response bank, trains a style policy with GRPO under the
# guard-only, hybrid and helpfulness-only rewards, and writes OUTDIR/table.csv, the step logs,
# the paper-layout table and plots (experiments/saferl/RESULTS.md).
#
#   bash experiments/saferl/run_cpu.sh OUTDIR [--quick]
#
# Needs the build (build/src/cli/safrl, or $SAFRL_BIN) and the Qwen3 tokenizer that
# scripts/setup.sh installs (or $SAFRL_TOKENIZER); runs on Debian's /usr/bin/python3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: bash experiments/saferl/run_cpu.sh OUTDIR [--quick]" >&2
  exit 2
fi
cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -m experiments.saferl.cpu.run "$@"
