"""fp32 and bf16 matrix-product rate of the torch this interpreter has, best of a few products of
the prefill's shape (2048 x 1024 x 3072): RESULTS.md's LibTorch 2.11 against Debian's 1.13.

    .venv/bin/python experiments/bench/engine/matmul_rate.py   # PyPI torch 2.11 (MKL, OpenMP)
    /usr/bin/python3 experiments/bench/engine/matmul_rate.py   # Debian's torch 1.13 (OpenBLAS)
"""
import json
import time

import torch

torch.manual_seed(0)
m, k, n = 2048, 1024, 3072
out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
       "blas": "mkl" if torch.backends.mkl.is_available() else "other"}
for dtype in (torch.float32, torch.bfloat16):
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    rounds = 5 if dtype == torch.float32 else 3
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    out[str(dtype).split(".")[1]] = round(2 * m * k * n / best / 1e9, 1)
print(json.dumps(out))
