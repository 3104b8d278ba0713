#!/usr/bin/env bash
# Makes the project's one Python environment, .venv inside the clone, from the pinned
# requirements.lock (every package at the version requirements.txt resolved to). It holds torch
# (whose wheel carries the LibTorch safrl builds against), transformers and tokenizers (the test
# oracle), what the plugin, the tests, the experiments and the notebooks import, and the RL
# trainers that tests/trainers drives safrl with (requirements-trainers.lock; OpenRLHF v0.9.0
# in .deps). This clone's own package (safrl, with safrl.testing) is installed into it editable,
# so that scripts, experiments and tests import it as they import any other.
# Safe to rerun: a venv already made from this lock file is left as it is, and the editable
# install is redone only when pyproject.toml changes. pip's own download cache (~/.cache/pip) is
# reused between runs; nothing else is written outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
lock_stamp="$venv/.safrl-requirements.sha256"  # the requirements.lock the venv was made from
install_stamp="$venv/.safrl-install.sha256"    # the pyproject.toml of the editable install
# The venv is made again when either lock changes: requirements.lock, then the trainers
# (requirements-trainers.lock, --no-deps: its header says why).
lock=$(cat requirements.lock requirements-trainers.lock | sha256sum | cut -d' ' -f1)
project=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock" ]; then
  python=${SAFRL_PYTHON_FOR_VENV:-python3}
  # install-deps.sh installs Debian's python3-venv when the first python3 on PATH cannot make venvs.
  "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
  echo "setup-python: making $venv from requirements.lock with $($python --version 2>&1)" >&2
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    -r requirements-trainers.lock
  echo "$lock" >"$lock_stamp"
fi
# OpenRLHF v0.9.0, whose remote reward path tests/trainers checks beside the current one.
openrlhf_090=.deps/openrlhf-0.9.0
if [ ! -f "$openrlhf_090/openrlhf/utils/remote_rm_utils.py" ]; then
  rm -rf "$openrlhf_090"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --target "$openrlhf_090" openrlhf==0.9.0
fi
if [ "$(cat "$install_stamp" 2>/dev/null)" != "$project" ]; then
  # No dependencies: the lock has them. pip builds it with setuptools in a build environment of
  # its own (the build backend is not in the lock: the venv's packages stay as the lock says).
  # Its output (setuptools warns about editable installs) is shown only when it fails.
  log=$("$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1) ||
    { echo "$log" >&2; exit 1; }
  echo "$project" >"$install_stamp"
fi
