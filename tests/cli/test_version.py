"""One version string (safrl/_version.py, read by CMake): the program, the server's info reply
and the Python package say the same."""
import os
import subprocess

import safrl

SAFRL = os.environ["SAFRL_BIN"]


def test_the_program_and_the_package_have_one_version():
    done = subprocess.run([SAFRL, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == safrl.__version__
    assert safrl.__version__.count(".") == 2
