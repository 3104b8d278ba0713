"""Shared by the oracle tests: where the safrl binary and the tokenizer folder are, and how to run
one of safrl's JSON-lines subcommands over a whole batch in a single process."""
import json
import os
import pathlib
import subprocess

import pytest


def _path_from_env(name, what, required_file):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: point it at {what} (tests/oracle/CMakeLists.txt sets it "
                    f"when the suite runs under ctest)", pytrace=False)
    path = pathlib.Path(value).resolve()
    required = path / required_file if required_file else path
    if not required.is_file():
        pytest.fail(f"{name}={value}: {required} does not exist", pytrace=False)
    return path


@pytest.fixture(scope="session")
def safrl_bin():
    return _path_from_env("SAFRL_BIN", "the built safrl binary, e.g. build/src/cli/safrl", None)


@pytest.fixture(scope="session")
def tokenizer_dir():
    return _path_from_env("SAFRL_TOKENIZER_DIR", "the Qwen3 tokenizer folder, e.g. "
                          ".deps/qwen3-tokenizer", "tokenizer.json")


@pytest.fixture(scope="session")
def run_safrl(safrl_bin):
    """run_safrl(args, objects, field=None) -> one parsed answer per object, in order; with
    `field`, that field of each answer, or the whole answer (an {"error": ...}) where it has none,
    so that a failure report shows the error. A refused line is a test outcome of its own."""

    def run(args, objects, field=None):
        # ensure_ascii=True is what json.dumps does by default, so this is the exact line a Python
        # client writes; every non-ASCII character travels as a \uXXXX escape.
        stdin = "".join(json.dumps(o) + "\n" for o in objects)
        done = subprocess.run([str(safrl_bin), *args], input=stdin.encode("ascii"),
                              capture_output=True, timeout=300)
        # Split on "\n" only: answers hold U+2028, U+0085 and the like unescaped, which
        # str.splitlines() would also split on.
        lines = done.stdout.split(b"\n")[:-1]
        assert len(lines) == len(objects), (
            f"safrl {' '.join(args)} answered {len(lines)} lines for {len(objects)} "
            f"(exit {done.returncode}); stderr:\n{done.stderr.decode(errors='replace')[-2000:]}")
        answers = [json.loads(line) for line in lines]
        return answers if field is None else [answer.get(field, answer) for answer in answers]

    return run
