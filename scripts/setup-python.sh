#!/usr/bin/env bash
# Makes the project's one Python environment, .venv inside the clone, from the pinned
# requirements.lock (every package at the version requirements.txt resolved to). It holds torch
# (whose wheel carries the LibTorch safrl builds against), transformers and tokenizers (the test
# oracle), and what the plugin, the tests, the experiments and the notebooks import.
# Safe to rerun: a venv already made from this lock file is left as it is. pip's own download
# cache (~/.cache/pip) is reused between runs; nothing else is written outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.safrl-requirements.sha256"
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python=${SAFRL_PYTHON_FOR_VENV:-python3}
# install-deps.sh installs Debian's python3-venv when the first python3 on PATH cannot make venvs.
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
echo "setup-python: making $venv from requirements.lock with $($python --version 2>&1)" >&2
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
echo "$want" >"$stamp"
