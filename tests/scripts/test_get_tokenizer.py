"""scripts/get-tokenizer.sh, the set-up step that finds the real Qwen3 tokenizer: each source in
its order, the byte check, and the error that names every source when none has it."""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = REPO / ".deps" / "qwen3-tokenizer"  # what the set-up of this clone put there


@pytest.fixture
def clone(tmp_path):
    """A stand-in clone with the script and this environment's interpreter, inside an empty
    folder (so no shared/ beside it unless a test makes one)."""
    repo = tmp_path / "top" / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "get-tokenizer.sh", repo / "scripts")
    (repo / ".venv" / "bin").mkdir(parents=True)
    # A wrapper, not a symlink: a venv's interpreter reached through a link elsewhere loses its
    # packages (huggingface_hub among them).
    python = repo / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return repo


def share(clone):
    shutil.copytree(INSTALLED, clone.parent / "shared" / "data" / "qwen3-tokenizer")


def run(clone, **env):
    environment = {k: v for k, v in os.environ.items() if k != "SAFRL_TOKENIZER_DIR"}
    environment["HF_HUB_OFFLINE"] = "1"  # never download in a test, whatever the network allows
    environment.update(env)
    return subprocess.run(["bash", "scripts/get-tokenizer.sh"], cwd=clone, env=environment,
                          capture_output=True, text=True, timeout=120)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_installed(clone):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert digest(clone / ".deps" / "qwen3-tokenizer" / name) == digest(INSTALLED / name)


def test_the_variable_comes_first(clone):
    proc = run(clone, SAFRL_TOKENIZER_DIR=str(INSTALLED))
    assert proc.returncode == 0, proc.stderr
    assert_installed(clone)


def test_the_shared_folder_beside_the_clone(clone):
    share(clone)
    proc = run(clone)
    assert proc.returncode == 0, proc.stderr
    assert_installed(clone)


def test_a_variable_pointing_at_other_bytes_is_refused_even_with_shared_beside(clone, tmp_path):
    share(clone)  # a good source further down the order does not hide the user's mistake
    other = tmp_path / "other"
    other.mkdir()
    (other / "tokenizer.json").write_text("{}")
    (other / "tokenizer_config.json").write_text("{}")
    proc = run(clone, SAFRL_TOKENIZER_DIR=str(other))
    assert proc.returncode == 1
    assert f"SAFRL_TOKENIZER_DIR={other} must hold the Qwen3 tokenizer.json" in proc.stderr
    assert not (clone / ".deps" / "qwen3-tokenizer").exists()


def test_no_source_names_all_three(clone):
    proc = run(clone)
    assert proc.returncode == 1
    assert "1. SAFRL_TOKENIZER_DIR=" in proc.stderr
    assert f"2. {clone.parent / 'shared' / 'data' / 'qwen3-tokenizer'}" in proc.stderr
    assert "3. the Hugging Face Hub, Qwen/Qwen3-0.6B (the download failed" in proc.stderr
    assert "local cache" in proc.stderr  # huggingface_hub's own reason (offline), passed on
    assert not (clone / ".deps" / "qwen3-tokenizer").exists()
