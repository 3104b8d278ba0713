#!/usr/bin/env bash
# Makes the project's one Python environment, .venv inside the clone, from the pinned
# requirements.lock (every package at the version requirements.txt resolved to). It holds torch
# (whose wheel carries the LibTorch safrl builds against), transformers and tokenizers (the test
# oracle), and what the plugin, the tests, the experiments and the notebooks import. With --tests
# (scripts/test.sh) it adds the RL trainers that tests/trainers drives safrl with
# (requirements-trainers.lock; OpenRLHF v0.9.0 in .deps), which the main job does not need. This
# clone's own package (safrl, with safrl.testing) is installed into it editable, so that scripts,
# experiments and tests import it as they import any other.
# Safe to rerun: a venv already made from this lock file is left as it is (the trainers likewise,
# by their own lock), and the editable install is redone only when pyproject.toml changes. pip's
# own download cache (~/.cache/pip) is reused between runs; nothing else is written outside the
# clone.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
lock_stamp="$venv/.safrl-requirements.sha256"       # the requirements.lock the venv was made from
trainers_stamp="$venv/.safrl-trainers.sha256"       # the requirements-trainers.lock installed
install_stamp="$venv/.safrl-install.sha256"         # the pyproject.toml of the editable install
lock=$(sha256sum requirements.lock | cut -d' ' -f1)
trainers=$(sha256sum requirements-trainers.lock | cut -d' ' -f1)
project=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock" ]; then
  python=${SAFRL_PYTHON_FOR_VENV:-python3}
  # install-deps.sh installs Debian's python3-venv when the first python3 on PATH cannot make venvs.
  "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || python=/usr/bin/python3
  echo "setup-python: making $venv from requirements.lock with $($python --version 2>&1)" >&2
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  echo "$lock" >"$lock_stamp"
fi
if [ "${1:-}" = --tests ] && [ "$(cat "$trainers_stamp" 2>/dev/null)" != "$trainers" ]; then
  # The trainers with --no-deps: requirements-trainers.txt says why.
  echo "setup-python: adding the RL trainers of requirements-trainers.lock" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    -r requirements-trainers.lock
  echo "$trainers" >"$trainers_stamp"
fi
# OpenRLHF v0.9.0, whose remote reward path tests/trainers checks beside the current one.
openrlhf_090=.deps/openrlhf-0.9.0
if [ "${1:-}" = --tests ] && [ ! -f "$openrlhf_090/openrlhf/utils/remote_rm_utils.py" ]; then
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
