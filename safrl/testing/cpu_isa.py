"""The AVX2 override of the tests (SAFRL_FORCE_AVX2=1): the code paths a CPU without AVX-512
takes (AMD Zen 3, Intel before Skylake-SP), forced on any x86-64 host, so that CI on an AVX-512
machine tests what an AVX2 machine runs (docs/setup.md, "Which CPUs").

    env = cpu_isa.environment(os.environ)   # the environment for processes under test
    eval "$(python -m safrl.testing.cpu_isa)"   # the same switches for a shell (scripts/test.sh)

With SAFRL_FORCE_AVX2=1 it adds the switches that hold LibTorch's kernels to AVX2
(ATEN_CPU_CAPABILITY for ATen's own kernels, MKL_ENABLE_INSTRUCTIONS for MKL's GEMMs,
ONEDNN_MAX_CPU_ISA for oneDNN's; with them, safrl's logits are bit for bit those of an emulated
Zen 3, tests/scripts/test_cpu_isa.py), and puts the folder force_avx2 on PYTHONPATH, whose
sitecustomize makes vLLM load its AVX2 kernel library. Without it, the environment is returned
unchanged.
"""
import os
import sys

FORCE = "SAFRL_FORCE_AVX2"
LIBTORCH_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                 "ONEDNN_MAX_CPU_ISA": "AVX2"}
SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "force_avx2")


def forced(env=os.environ):
    return env.get(FORCE) == "1"


def environment(env):
    env = dict(env)
    if forced(env):
        env.update(LIBTORCH_AVX2)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITE]
        env["PYTHONPATH"] = os.pathsep.join([SITE] + paths)
    return env


if __name__ == "__main__":
    # Shell exports of the LibTorch switches (SAFRL_FORCE_AVX2 included), for scripts.
    for key, value in dict(LIBTORCH_AVX2, **{FORCE: "1"}).items():
        sys.stdout.write(f"export {key}={value}\n")
