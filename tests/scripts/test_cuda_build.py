"""The binary is built against PyPI torch's CUDA LibTorch (docs/setup.md): its CUDA paths are
linked in, and on a machine without a GPU asking for one fails at start-up with a clear error."""
import json
import os
import subprocess

import pytest
import torch

SAFRL = os.environ["SAFRL_BIN"]
EMBEDDED = os.environ["SAFRL_EMBEDDED"]


def test_the_binary_links_libtorchs_cuda_backend():
    libraries = subprocess.run(["ldd", SAFRL], check=True, capture_output=True, text=True).stdout
    linked = {line.split()[0] for line in libraries.splitlines() if "=>" in line}
    assert {"libtorch_cuda.so", "libc10_cuda.so", "libcudart.so.13"} <= linked, libraries
    assert not any("not found" in line for line in libraries.splitlines()), libraries


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_start_up_error():
    proc = subprocess.run([SAFRL, "forward", "--model", f"{EMBEDDED}/guard", "--device", "cuda"],
                          input=json.dumps({"ids": [1, 2]}) + "\n", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "device cuda was asked for" in proc.stderr and "use --device cpu" in proc.stderr
