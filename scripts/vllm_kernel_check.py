"""Checks, in .venv-vllm, that vLLM's CPU build runs on this CPU (scripts/setup-vllm.sh).

    .venv-vllm/bin/python scripts/vllm_kernel_check.py [EXPECTED_LIBRARY]

Imports the OpenAI server's module, has vLLM load its kernel library the way its engine does
(current_platform.import_kernels: _C, _C_AVX512 or _C_AVX2 by the CPU's instruction sets), and
runs one of that library's kernels, so an instruction this CPU lacks shows here as SIGILL
rather than in the middle of a test. Importing vllm._C by hand would test the wrong library
(the AVX-512 one, even on a CPU where vLLM itself would load _C_AVX2). Prints which library is
mapped; with EXPECTED_LIBRARY (what setup-vllm.sh predicted from the CPU flags), a different one
is an error.
"""
import re
import sys

import torch
import vllm.entrypoints.openai.api_server  # noqa: F401  (the module the tests start)
from vllm.platforms import current_platform


def mapped_kernel_libraries():
    with open("/proc/self/maps") as maps:
        return sorted(set(re.findall(r"vllm/(_C(?:_AVX2|_AVX512)?)\.abi3\.so", maps.read())))


def main():
    current_platform.import_kernels()
    loaded = mapped_kernel_libraries()
    if len(loaded) != 1:
        sys.exit(f"vllm_kernel_check: expected one vLLM kernel library mapped, found {loaded}")
    # One kernel of the library: RMSNorm over a small batch (the op every served model runs).
    x = torch.randn(4, 64)
    weight = torch.rand(64) + 0.5
    out = torch.empty_like(x)
    torch.ops._C.rms_norm(out, x, weight, 1e-6)
    reference = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight
    if not torch.allclose(out, reference, atol=1e-5, rtol=1e-5):
        sys.exit(f"vllm_kernel_check: {loaded[0]}'s rms_norm differs from the reference by "
                 f"{(out - reference).abs().max().item():.3g}")
    if len(sys.argv) > 1 and loaded[0] != sys.argv[1]:
        sys.exit(f"vllm_kernel_check: vLLM loaded {loaded[0]}, setup-vllm.sh expected "
                 f"{sys.argv[1]} from the CPU flags")
    print(f"vllm_kernel_check: vLLM runs vllm/{loaded[0]}.abi3.so on this CPU (rms_norm checked)")


if __name__ == "__main__":
    main()
