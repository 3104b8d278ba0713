#!/usr/bin/env bash
# The SafeRL experiment shrunk to two CPU cores, end to end through `safrl serve`: trains tiny
# stand-in judges on a hand-labelled response bank, fits a tiny Qwen3 policy to it and trains it
# with TRL's GRPOTrainer under the guard-only, hybrid and helpfulness-only rewards, and writes
# OUTDIR/table.csv, the step logs, the paper-layout table and plots (experiments/saferl/RESULTS.md).
#
#   bash experiments/saferl/run_cpu.sh OUTDIR [--quick] [--steps N] [--arms ARM[,ARM...]]
#
# --steps N: GRPO steps per arm and mode (default 30; 15 with --quick); --arms: some of
# guard_only,hybrid,helpfulness_only (default these three) and hybrid_expected (the hybrid reward
# under reward.safety_signal: expected; only when named), e.g. a long run of one arm:
#   bash experiments/saferl/run_cpu.sh OUTDIR --arms guard_only --steps 120
#
# Needs the build (build/src/cli/safrl, or $SAFRL_BIN) and the Qwen3 tokenizer that
# scripts/setup.sh puts in .deps/qwen3-tokenizer (or $SAFRL_TOKENIZER_DIR); runs on the project's
# .venv/bin/python (torch, transformers, TRL, pandas, matplotlib, zmq, msgpack).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: bash experiments/saferl/run_cpu.sh OUTDIR [--quick] [--steps N] [--arms ARM,...]" >&2
  exit 2
fi
cd "$repo"
if [ ! -x .venv/bin/python ]; then
  echo "run_cpu.sh: $repo/.venv is missing; make it with bash scripts/setup.sh" >&2
  exit 1
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
# One thread per process (the trainers of the two modes run side by side anyway). A run is
# seeded throughout, but it need not repeat to the last digit: the server batches the two
# trainers' requests as they arrive, and batched scores agree with single ones within 1e-5
# (docs/engine.md), which sampling can amplify.
export OMP_NUM_THREADS=1
exec .venv/bin/python -m experiments.saferl.cpu.run "$@"
